"""Clair v2 reports as clair-scanner / klar write them (image, unapproved, vulnerabilities)."""

from __future__ import annotations

from typing import Any

from cims.model import Finding, ParsedReport, normalize_vuln_id
from cims.scanners.interface import Rec, ReportParser, ecosystem, split_versions


def detect(doc: Any) -> bool:
    return isinstance(doc, dict) and "unapproved" in doc and "vulnerabilities" in doc


def parse(doc: Any) -> ParsedReport:
    top = Rec(doc, "clair report")
    report = ParsedReport(tool="clair", report_format="clair-scanner-json")
    report.image_name = top.text("image")
    for v in top.objs("vulnerabilities"):
        namespace = v.text("namespace") or ""  # "ubuntu:18.04"
        family = namespace.split(":", 1)[0] or None
        report.os = report.os or (namespace.replace(":", " ") or None)
        report.findings.append(
            Finding(
                tool="clair",
                vuln_id=normalize_vuln_id(v.need("vulnerability")),
                package_name=v.need("featurename"),
                package_type=ecosystem("os", os_family=family),
                source_name=v.need("featurename"),  # Clair v2 matches distro source packages
                installed_version=v.text("featureversion") or "",
                fixed_versions=split_versions(v.text("fixedby")),
                severity=v.severity("severity"),
                severity_source=family,
                vendor_severities={family: v.severity("severity")} if family else {},
                description=v.text("description"),
                links=v.texts("link"),
                raw_index=len(report.raw_records),
            )
        )
        report.raw_records.append(v.original())
    return report


PARSER = ReportParser(tool="clair", report_format="clair-scanner-json", detect=detect, parse=parse)
