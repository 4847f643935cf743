"""``--format table``: a terminal table with rich."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cims.model import Severity
from cims.report.model import Report

_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.NEGLIGIBLE: "dim",
    Severity.UNKNOWN: "dim",
}


def render(report: Report, console: Console) -> None:
    img = report.image
    console.print(Text(f"{img.name}{':' + img.tag if img.tag else ''}", style="bold"))
    console.print(f"digest {img.digest}" + (f"   os {img.os}" if img.os else ""))
    runs = Table(box=box.SIMPLE, title="tool runs", title_justify="left")
    for col in ("tool", "version", "format", "status", "raw findings", "source"):
        runs.add_column(col)
    for run in report.tool_runs:
        runs.add_row(
            run.tool,
            run.tool_version or "",
            run.report_format or "",
            run.status + (f": {run.message}" if run.message else ""),
            str(run.findings),
            run.source or "",
        )
    console.print(runs)
    table = Table(box=box.SIMPLE_HEAD, title="correlated findings", title_justify="left")
    for col in ("severity", "vulnerability", "package", "version", "fixed in", "tools", "rated by"):
        table.add_column(col, overflow="fold")
    for c in report.findings:
        aliases = [i for i in c.ids if i != c.vulnerability]
        vuln = c.vulnerability + (f" ({', '.join(aliases)})" if aliases else "")
        pkg = c.package if c.packages == [c.package] else f"{c.package} [{', '.join(c.packages)}]"
        table.add_row(
            Text(c.severity.value, style=_STYLE[c.severity]),
            vuln,
            f"{c.ecosystem}:{pkg}",
            c.version,
            ", ".join(c.fixed_versions),
            ", ".join(c.tools),
            c.severity_source,
        )
    console.print(table)
    s = report.summary
    counts = ", ".join(f"{n} {sev.value.lower()}" for sev, n in s.by_severity.items() if n)
    console.print(
        f"{s.findings} correlated findings from {s.raw_findings} raw ({counts or 'none'}); "
        f"{s.found_by_several_tools} found by two or more tools, {s.found_by_one_tool} by one. "
        f"Severity policy: {report.policy.value}."
    )
