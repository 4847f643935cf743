"""Store a scan's outcomes: reports of the tools that worked, runs of those that did not."""

from __future__ import annotations

from collections.abc import Sequence

from cims.correlate.severity import Policy
from cims.model import ImageRef
from cims.runtime.scan import ToolOutcome
from cims.store.db import ImageRow, Store


def store_outcomes(
    store: Store, image: ImageRef, outcomes: Sequence[ToolOutcome], policy: Policy
) -> ImageRow:
    reports = []
    report_runs = []
    for o in outcomes:
        if o.report is not None and o.report_sha256:
            reports.append((o.report, o.report_sha256, o.run.source or o.run.tool))
            report_runs.append(o.run)
    row, _ = store.import_reports(
        image,
        reports,
        kind="scan",
        runs=[o.run for o in outcomes if o.report is None],
        report_runs=report_runs,
        policy=policy,
    )
    return row
