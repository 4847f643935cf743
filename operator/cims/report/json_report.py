"""``--format json``: the :class:`~cims.report.model.Report` document."""

from __future__ import annotations

from cims.report.model import Report


def render(report: Report) -> str:
    return report.model_dump_json(by_alias=True, indent=2) + "\n"
