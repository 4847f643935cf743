"""The operator's side of the shared volume: merge a finished Job's DB into the central DB."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cims.correlate.severity import Policy
from cims.report.model import Report, build
from cims.store.db import Store

_WRITER = threading.Lock()  # the operator is the central DB's single writer


def incoming(shared_dir: str, sid: str) -> Path:
    return Path(shared_dir) / "incoming" / f"{sid}.db"


def merge_scan(central_db: str, scan_db: Path) -> Report:
    """Import a scan Job's DB into the central DB (idempotent) and build the image's report."""
    with Store(scan_db) as one:
        image, reports, report_runs, others = one.scan_contents()
    with _WRITER, Store(Path(central_db)) as central:
        row, _ = central.import_reports(
            image,
            reports,
            kind="operator",
            runs=others,
            report_runs=report_runs,
            policy=Policy.VENDOR,
        )
        return build(central, row)


def cached_report(
    central_db: str, digest: str, tools: list[str], ttl_s: int
) -> tuple[Report, str] | None:
    """The central DB's report of ``digest`` if it was scanned with these tools within the TTL.

    Returns the report and the id of the tool run it reuses (the newest of those tools).
    """
    path = Path(central_db)
    if ttl_s <= 0 or not path.exists():
        return None
    since = (datetime.now(UTC) - timedelta(seconds=ttl_s)).isoformat(timespec="seconds")
    with Store(path) as store:
        row = next((r for r in store.images() if r.digest == digest), None)
        if row is None:
            return None
        recent = [
            r
            for r in store.tool_runs(row.id)
            if str(r["created_at"]) >= since and r["status"] in ("ok", "not-applicable")
        ]
        if not set(tools) <= {str(r["tool"]) for r in recent}:
            return None
        newest = max(int(str(r["scan_fk"])) for r in recent)
        return build(store, row), f"db-scan-{newest}"
