"""SARIF 2.1.0 vulnerability reports (``trivy -f sarif``; the tool is read from the driver)."""

from __future__ import annotations

import re
from typing import Any

from cims.errors import InputError
from cims.model import KNOWN_TOOLS, Finding, ParsedReport, normalize_vuln_id
from cims.scanners.interface import Rec, ReportParser, severity, split_versions

# Trivy writes the finding's facts as "Key: value" lines in the result message.
_LINE = re.compile(r"^(?P<key>[A-Za-z ]+):\s*(?P<value>.*)$")
_LEVELS = {"error": "HIGH", "warning": "MEDIUM", "note": "LOW", "none": "UNKNOWN"}


def detect(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("runs"), list) and "version" in doc


def tool_of(driver_name: str | None) -> str:
    """Our tool name for a SARIF driver name ("Trivy" -> trivy); other drivers keep theirs."""
    name = (driver_name or "").strip().lower()
    for tool in KNOWN_TOOLS:
        if name == tool or name.startswith(tool + " "):
            return tool
    if not name:
        raise InputError("sarif report: runs[].tool.driver.name is empty; cannot tell the tool")
    return name


def parse(doc: Any) -> ParsedReport:
    top = Rec(doc, "sarif report")
    runs = list(top.objs("runs"))
    if not runs:
        raise InputError("sarif report: 'runs' is empty")
    report: ParsedReport | None = None
    for run in runs:
        tool_rec = run.obj("tool")
        driver = tool_rec.obj("driver") if tool_rec else None
        if driver is None:
            raise InputError(f"{run.where}: missing tool.driver")
        tool = tool_of(driver.text("name"))
        if report is None:
            report = ParsedReport(
                tool=tool, tool_version=driver.text("version"), report_format="sarif"
            )
        elif report.tool != tool:
            raise InputError("sarif report: runs of several tools; import one tool's SARIF at once")
        props = run.obj("properties")
        if props:
            report.image_name = report.image_name or _first(props.texts("repoTags"))
            report.image_id = report.image_id or props.text("imageID")
            report.manifest_digests += tuple(
                d.split("@", 1)[1] for d in props.texts("repoDigests") if "@" in d
            )
        rules = {r.need("id"): r for r in driver.objs("rules")}
        for res in run.objs("results"):
            report.findings.append(_finding(res, rules, tool, len(report.raw_records)))
            report.raw_records.append(res.original())
    assert report is not None
    return report


def _first(items: tuple[str, ...]) -> str | None:
    return items[0] if items else None


def _facts(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if match:
            out.setdefault(match["key"].strip().lower(), match["value"].strip())
    return out


def _finding(res: Rec, rules: dict[str, Rec], tool: str, index: int) -> Finding:
    rule_id = res.need("ruleId")
    rule = rules.get(rule_id)
    message = res.obj("message")
    facts = _facts(message.text("text") or "") if message else {}
    help_rec = rule.obj("help") if rule else None
    rule_facts = _facts(help_rec.text("text") or "") if help_rec else {}
    package = facts.get("package") or rule_facts.get("package")
    if not package:
        raise InputError(
            f"{res.where}: the message names no 'Package:'; not a vulnerability result"
        )
    sev_word: object = facts.get("severity") or rule_facts.get("severity")
    if sev_word is None:
        sev_word = _LEVELS.get(res.text("level") or "", "UNKNOWN")
    short = rule.obj("shortDescription") if rule else None
    full = rule.obj("fullDescription") if rule else None
    location = None
    for loc in res.objs("locations"):
        phys = loc.obj("physicalLocation")
        art = phys.obj("artifactLocation") if phys else None
        location = art.text("uri") if art else None
        break
    return Finding(
        tool=tool,
        vuln_id=normalize_vuln_id(rule_id),
        package_name=package,
        installed_version=facts.get("installed version", ""),
        fixed_versions=split_versions(facts.get("fixed version")),
        severity=severity(sev_word, f"{res.where}.message"),
        severity_source=tool,
        path=location,
        title=short.text("text") if short else None,
        description=full.text("text") if full else None,
        links=tuple(x for x in (rule.text("helpUri") if rule else None,) if x),
        raw_index=index,
    )


PARSER = ReportParser(tool="", report_format="sarif", detect=detect, parse=parse)
