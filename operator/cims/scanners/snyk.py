"""Snyk CLI ``snyk test --json`` and ``snyk container test --json`` reports (one or a list)."""

from __future__ import annotations

from typing import Any

from cims.model import Finding, ParsedReport, normalize_vuln_id
from cims.scanners.interface import Rec, ReportParser, ecosystem, make_cvss, records


def detect(doc: Any) -> bool:
    first = doc[0] if isinstance(doc, list) and doc else doc
    return isinstance(first, dict) and "vulnerabilities" in first and "packageManager" in first


def parse(doc: Any) -> ParsedReport:
    report = ParsedReport(tool="snyk", report_format="snyk-json")
    projects = list(records(doc, "snyk report")) if isinstance(doc, list) else [Rec(doc, "snyk")]
    for project in projects:
        _parse_project(project, report)
        for app in project.objs("applications"):  # container scans nest the app projects
            _parse_project(app, report)
    return report


def _parse_project(project: Rec, report: ParsedReport) -> None:
    docker = project.obj("docker")
    if docker and not report.image_name:
        report.image_name = project.text("path")
    if project.text("platform") and not report.os:
        report.os = project.text("packageManager")
    for v in project.objs("vulnerabilities"):
        manager = v.text("packageManager") or project.text("packageManager") or ""
        family = manager.split(":", 1)[0] if ":" in manager else None  # "debian:11"
        pkg_type = ecosystem(family or manager, os_family=family)
        is_os = pkg_type in ("deb", "rpm", "apk")
        # For OS packages Snyk writes "source/binary" in `name` and the source in packageName.
        full = v.text("name") or v.need("packageName")
        binary = full.split("/", 1)[1] if is_os and "/" in full else full
        ids = v.obj("identifiers")
        aliases: list[str] = []
        if ids:
            for key in ("CVE", "GHSA", "ALTERNATIVE"):
                aliases.extend(normalize_vuln_id(x) for x in ids.texts(key))
        vid = normalize_vuln_id(v.need("id"))
        cvss = make_cvss("snyk", v.text("CVSSv3"), v.number("cvssScore"), "3.x")
        vendor = {"nvd": v.severity("nvdSeverity")} if v.text("nvdSeverity") else {}
        report.findings.append(
            Finding(
                tool="snyk",
                vuln_id=vid,
                aliases=tuple(a for a in dict.fromkeys(aliases) if a != vid),
                package_name=binary,
                package_type=pkg_type,
                source_name=v.text("packageName") if is_os else None,
                installed_version=v.text("version") or "",
                fixed_versions=v.texts("fixedIn"),
                severity=v.severity("severity"),
                severity_source=family if is_os else "snyk",
                vendor_severities=vendor,
                cvss=(cvss,) if cvss else (),
                title=v.text("title"),
                description=v.text("description"),
                published=v.text("publicationTime"),
                modified=v.text("modificationTime"),
                raw_index=len(report.raw_records),
            )
        )
        report.raw_records.append(v.original())


PARSER = ReportParser(tool="snyk", report_format="snyk-json", detect=detect, parse=parse)
