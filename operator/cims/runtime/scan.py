"""One scan: the selected tools against one image by digest, in parallel, each on its own."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cims.errors import CimsError, InputError
from cims.model import ImageRef, ParsedReport, ToolRun, ToolStatus
from cims.runtime.process import redact, run
from cims.scanners import aqua, grype, prisma_api, trivy, twistlock, va
from cims.scanners.interface import Invocation, ScanTarget
from cims.scanners.registry import parse_report

SCAN_TOOLS: tuple[str, ...] = ("twistlock", "aqua", "va", "trivy", "grype")
DEFAULT_TOOLS: tuple[str, ...] = ("twistlock", "va")
DEFAULT_TIMEOUT_S = 900.0

_INVOCATIONS: dict[str, Callable[[ScanTarget, Mapping[str, str]], Invocation]] = {
    "twistlock": twistlock.invocation,
    "aqua": aqua.invocation,
    "trivy": trivy.invocation,
    "grype": grype.invocation,
}


def parse_tools(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"twistlock, va"`` -> ("twistlock", "va"); unknown or repeated names are an error."""
    items = text.split(",") if isinstance(text, str) else list(text)
    tools = [t.strip().lower() for t in items if t.strip()]
    if not tools:
        raise InputError(f"no tools given: choose from {', '.join(SCAN_TOOLS)}")
    for tool in tools:
        if tool not in SCAN_TOOLS:
            raise InputError(f"unknown tool {tool!r}: valid tools are {', '.join(SCAN_TOOLS)}")
    dupes = sorted({t for t in tools if tools.count(t) > 1})
    if dupes:
        raise InputError(f"tool {dupes[0]!r} is named twice in the tool list")
    return tuple(tools)


@dataclass(frozen=True)
class ToolOutcome:
    run: ToolRun
    report: ParsedReport | None = None
    report_sha256: str | None = None


def scan_image(
    image: ImageRef,
    tools: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    sbom: Path | None = None,
) -> list[ToolOutcome]:
    """Run ``tools`` against ``image`` (which has a digest) in parallel; never raises for a tool.

    A tool that fails, times out or prints garbage gets that status; the others still land.
    """
    if image.digest is None:
        raise InputError(f"{image} has no digest; resolve it before scanning")
    environ = dict(os.environ if env is None else env)
    with (
        tempfile.TemporaryDirectory(prefix="cims-scan-") as tmp,
        ThreadPoolExecutor(max_workers=max(1, len(tools))) as pool,
    ):
        target = ScanTarget(image=image, workdir=Path(tmp), sbom=sbom)
        futures = [pool.submit(_run_tool, tool, target, environ, timeout_s) for tool in tools]
        return [f.result() for f in futures]


class _NoReport(Exception):
    """The tool ran but left no usable report; the message says why."""


def _run_tool(
    tool: str, target: ScanTarget, env: Mapping[str, str], timeout_s: float
) -> ToolOutcome:
    start = time.monotonic()
    secrets: list[str] = []
    try:
        if tool == "va":
            if not va.applies(target.image):
                return _outcome(
                    tool,
                    start,
                    "not-applicable",
                    "VA scans only IBM Cloud Container Registry images; "
                    f"{target.image.registry} is not one",
                )
            client = va.VaClient(env=env, deadline=start + timeout_s)
            secrets = client.secrets
            data, source, note = client.fetch(target), f"va:{target.image.registry}", ""
        elif tool == "twistlock" and prisma_api.wants_console(env):
            console = prisma_api.ConsoleClient(env=env, deadline=start + timeout_s)
            secrets = console.secrets
            data, source, note = console.fetch(target), "twistlock-console", ""
        else:
            inv = _INVOCATIONS[tool](target, env)
            secrets = list(inv.secrets)
            data, source, note = _run_cli(tool, inv, timeout_s, env)
        report, sha = parse_report(data, source, _parser_tool(tool, data))
        _check_image(tool, report, target)
    except TimeoutError as err:
        return _outcome(tool, start, "timed-out", redact(str(err), secrets))
    except (CimsError, _NoReport) as err:
        return _outcome(tool, start, "failed", redact(str(err), secrets))
    except OSError as err:
        return _outcome(tool, start, "failed", redact(f"{tool}: {err}", secrets))
    run_ = ToolRun(
        tool=tool,
        tool_version=report.tool_version,
        report_format=report.report_format,
        status="ok",
        message=note,
        duration_s=round(time.monotonic() - start, 3),
        report_sha256=sha,
        source=source,
    )
    return ToolOutcome(run_, report.model_copy(update={"tool": tool}), sha)


def _run_cli(
    tool: str, inv: Invocation, timeout_s: float, env: Mapping[str, str]
) -> tuple[bytes, str, str]:
    """Run a command-line scanner; (report bytes, source name, note) or _NoReport."""
    result = run(inv, timeout_s, env)
    detail = f": {result.stderr_tail}" if result.stderr_tail else ""
    if not inv.output.exists() or inv.output.stat().st_size == 0:
        raise _NoReport(f"{tool} wrote no report (exit {result.returncode}{detail})")
    if result.returncode not in inv.ok_exit_codes | inv.policy_exit_codes:
        raise _NoReport(f"{tool} exited {result.returncode}{detail or ': no message'}")
    note = ""
    if result.returncode in inv.policy_exit_codes:
        note = f"the image fails {tool}'s policy (exit {result.returncode})"
    return inv.output.read_bytes(), inv.output.name, note


def _check_image(tool: str, report: ParsedReport, target: ScanTarget) -> None:
    """A report that names another image digest than the one scanned is that tool's failure."""
    named = [d for d in report.manifest_digests if d.startswith("sha256:") and len(d) == 71]
    if named and target.image.digest not in named and report.image_id != target.image.digest:
        raise _NoReport(
            f"{tool} reported on image {named[0]}, not the scanned {target.image.digest}"
        )


def _parser_tool(tool: str, data: bytes) -> str:
    """Which parser reads the tool's output: Aqua's Trivy server writes Trivy JSON."""
    if tool == "aqua" and b'"SchemaVersion"' in data[:4096]:
        return "trivy"
    return tool


def _outcome(tool: str, start: float, status: ToolStatus, message: str) -> ToolOutcome:
    return ToolOutcome(
        ToolRun(
            tool=tool,
            status=status,
            message=message,
            duration_s=round(time.monotonic() - start, 3),
        )
    )
