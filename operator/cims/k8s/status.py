"""ImageScan status: phase, standard conditions, counts, tool runs, top findings. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cims.model import Severity
from cims.report.model import Report

PENDING, SCANNING, COMPLETE, FAILED = "Pending", "Scanning", "Complete", "Failed"
_NOT_OK = ("failed", "timed-out")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def condition(
    kind: str, ok: bool, reason: str, message: str, generation: int | None
) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message[:1024],
        "observedGeneration": generation,
        "lastTransitionTime": now(),
    }


def waiting(phase: str, reason: str, message: str, generation: int | None) -> dict[str, Any]:
    """Pending (queued, suspended) or Scanning: not Ready yet, nothing scanned yet."""
    return {
        "phase": phase,
        "observedGeneration": generation,
        "conditions": [
            condition("Ready", False, reason, message, generation),
            condition("Scanned", False, reason, message, generation),
        ],
    }


def keep_transitions(
    before: list[dict[str, Any]] | None, after: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``after``, with each condition's lastTransitionTime taken from ``before`` when its
    status did not change (a transition time says when the status last changed)."""
    old = {c.get("type"): c for c in before or []}
    out = []
    for cond in after:
        prev = old.get(cond["type"]) or {}
        same = prev.get("status") == cond["status"] and prev.get("lastTransitionTime")
        out.append({**cond, "lastTransitionTime": prev["lastTransitionTime"]} if same else cond)
    return out


def says(
    status: Mapping[str, Any], phase: str, reason: str, message: str, generation: int | None
) -> bool:
    """Whether ``status`` is already this waiting state (same phase, generation, Ready reason
    and message)."""
    if status.get("phase") != phase or status.get("observedGeneration") != generation:
        return False
    ready: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    return bool(ready.get("reason") == reason and ready.get("message") == message[:1024])


def failed(reason: str, message: str, generation: int | None) -> dict[str, Any]:
    return {
        "phase": FAILED,
        "observedGeneration": generation,
        "finishedAt": now(),
        "conditions": [
            condition("Ready", False, reason, message, generation),
            condition("Scanned", False, reason, message, generation),
        ],
    }


def complete(
    report: Report,
    *,
    generation: int | None,
    scan_id: str,
    db: str,
    top_n: int,
    fail_on: str | None,
    started_at: str | None,
    cached_from: str | None = None,
) -> dict[str, Any]:
    """The status of a finished scan, from the engine's report (top N findings only)."""
    counts = {s.value.lower(): report.summary.by_severity.get(s, 0) for s in Severity}
    threshold = Severity(fail_on.upper()) if fail_on else None
    failing = threshold is not None and any(
        f.severity.rank >= threshold.rank for f in report.findings
    )
    tools = {
        r.tool: {"status": r.status, "message": r.message[:512], "findings": r.findings}
        for r in report.tool_runs
    }
    degraded = sorted(t for t, r in tools.items() if r["status"] in _NOT_OK)
    scanned = len(degraded) < len(tools) or not tools
    top = [
        {
            "vulnerability": f.vulnerability,
            "severity": f.severity.value,
            "package": f.package,
            "version": f.version,
            "fixedVersions": f.fixed_versions[:5],
            "tools": f.tools,
        }
        for f in report.findings[:top_n]
    ]
    total = report.summary.findings
    if not scanned:
        ready = (False, "AllToolsFailed", "no tool produced a report")
    elif failing:
        ready = (False, "ThresholdExceeded", f"findings at or above {fail_on}")
    else:
        ready = (True, "Scanned", f"{total} correlated findings")
    how = f"reused scan {cached_from}" if cached_from else f"scan {scan_id}"
    conditions = [
        condition("Ready", ready[0], ready[1], ready[2], generation),
        condition("Scanned", scanned, "Scanned" if scanned else "AllToolsFailed", how, generation),
        condition(
            "Degraded",
            bool(degraded),
            "ToolFailed" if degraded else "AllToolsOk",
            ", ".join(f"{t}: {tools[t]['message']}" for t in degraded)[:1024] or "every tool ran",
            generation,
        ),
    ]
    digest = report.image.digest
    return {
        "phase": COMPLETE if scanned else FAILED,
        "observedGeneration": generation,
        "scanId": scan_id,
        "cachedFrom": cached_from,
        "digest": digest,
        "shortDigest": digest[7:19],
        "db": db,
        "startedAt": started_at,
        "finishedAt": now(),
        "failing": failing,
        "summary": {
            **counts,
            "total": total,
            "foundBySeveralTools": report.summary.found_by_several_tools,
        },
        "toolsSummary": " ".join(f"{t}:{r['status']}" for t, r in sorted(tools.items())),
        "tools": tools,
        "findings": top,
        "findingsShown": len(top),
        "conditions": conditions,
    }
