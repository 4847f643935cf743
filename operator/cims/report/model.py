"""The report document (JSON schema ``cims.report/v1``) and how it is built from the store."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cims.correlate.merge import Correlated
from cims.correlate.severity import Policy
from cims.model import Severity
from cims.store.db import ImageRow, Store

SCHEMA_ID = "cims.report/v1"


class ReportImage(BaseModel):
    name: str
    tag: str | None
    digest: str
    image_id: str | None
    os: str | None


class ReportToolRun(BaseModel):
    tool: str
    tool_version: str | None
    report_format: str | None
    status: str
    message: str
    findings: int = Field(description="raw findings this run reported")
    source: str | None
    report_sha256: str | None
    created_at: str


class ReportSummary(BaseModel):
    findings: int = Field(description="correlated findings in this report (after filters)")
    by_severity: dict[Severity, int]
    by_tool: dict[str, int] = Field(description="correlated findings each tool took part in")
    found_by_several_tools: int
    found_by_one_tool: int
    raw_findings: int = Field(description="raw findings behind the correlated ones")


class ReportFilters(BaseModel):
    min_severity: Severity | None
    min_tools: int


class Report(BaseModel):
    """One image's correlated picture. Fields are only ever added within a schema version."""

    model_config = ConfigDict(populate_by_name=True)

    schema_id: Literal["cims.report/v1"] = Field("cims.report/v1", alias="schema")
    generated_at: str
    policy: Policy
    filters: ReportFilters
    image: ReportImage
    tool_runs: list[ReportToolRun]
    summary: ReportSummary
    findings: list[Correlated]


def build(
    store: Store,
    image: ImageRow,
    *,
    policy: Policy | None = None,
    min_severity: Severity | None = None,
    min_tools: int = 1,
) -> Report:
    items = store.correlated(image.id, policy)
    shown = [
        c
        for c in items
        if len(c.tools) >= min_tools
        and (min_severity is None or c.severity.rank >= min_severity.rank)
    ]
    by_sev = Counter(c.severity for c in shown)
    by_tool = Counter(t for c in shown for t in c.tools)
    runs = [
        ReportToolRun(
            tool=str(r["tool"]),
            tool_version=_opt(r["tool_version"]),
            report_format=_opt(r["report_format"]),
            status=str(r["status"]),
            message=str(r["message"]),
            findings=int(str(r["finding_count"])),
            source=_opt(r["source"]),
            report_sha256=_opt(r["report_sha256"]),
            created_at=str(r["created_at"]),
        )
        for r in store.tool_runs(image.id)
    ]
    return Report(
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        policy=items[0].policy if items else (policy or Policy.VENDOR),
        filters=ReportFilters(min_severity=min_severity, min_tools=min_tools),
        image=ReportImage(
            name=image.name,
            tag=image.tag,
            digest=image.digest,
            image_id=image.image_id,
            os=image.os,
        ),
        tool_runs=runs,
        summary=ReportSummary(
            findings=len(shown),
            by_severity={s: by_sev.get(s, 0) for s in Severity},
            by_tool=dict(sorted(by_tool.items())),
            found_by_several_tools=sum(1 for c in shown if len(c.tools) > 1),
            found_by_one_tool=sum(1 for c in shown if len(c.tools) == 1),
            raw_findings=sum(len(c.members) for c in shown),
        ),
        findings=shown,
    )


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def json_schema() -> dict[str, object]:
    """The JSON Schema of :class:`Report`, as docs/report-schema.json holds it."""
    schema = Report.model_json_schema(by_alias=True)
    schema["$id"] = "https://cims.dev/schemas/report-v1.json"
    schema["title"] = "CIMS report v1"
    return schema
