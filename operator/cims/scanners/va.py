"""IBM Cloud Container Registry Vulnerability Advisor v4 image reports.

``GET https://<region>.icr.io/va/api/v4/report/image/<name>`` answers with the ``ScanReport``
model of IBM's published API (its Go/Python/Java SDKs): ``vulnerabilities[]`` each with a
``cve_id`` and ``security_notices[]`` (DSA, USN, RHSA ... ids) that list the
``vulnerable_packages``. VA v4 gives no severity: CIMS rates VA findings with a configurable
default (HIGH, as IBM's pipelines do) and marks it as a default so correlation prefers a real
rating from another tool.
"""

from __future__ import annotations

import os
from typing import Any

from cims.errors import InputError
from cims.model import Finding, ParsedReport, Severity, normalize_vuln_id
from cims.scanners.interface import Rec, ReportParser, ecosystem

DEFAULT_SEVERITY_ENV = "CIMS_VA_DEFAULT_SEVERITY"
SEVERITY_SOURCE = "va-default"


def default_severity() -> Severity:
    return Severity.parse(os.environ.get(DEFAULT_SEVERITY_ENV, "HIGH"), where=DEFAULT_SEVERITY_ENV)


def detect(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and "vulnerabilities" in doc
        and ("configuration_issues" in doc or "os_distribution" in doc)
    )


def parse(doc: Any) -> ParsedReport:
    top = Rec(doc, "va report")
    if not isinstance(top.get("vulnerabilities"), list):
        raise InputError("va report: missing the 'vulnerabilities' list")
    report = ParsedReport(tool="va", report_format="va-v4-json")
    dist = top.obj("os_distribution")
    family = dist.text("distribution_id") if dist else None
    if dist:
        report.os = " ".join(x for x in (family, dist.text("version_id")) if x) or None
    status = top.text("status")
    if status and status.upper() == "UNSUPPORTED":
        report.skipped.append("va report: status UNSUPPORTED, VA cannot scan this image's OS")
    issues = top.count("configuration_issues")
    if issues:
        report.skipped.append(f"va report: {issues} configuration issues (not CVEs)")
    sev = default_severity()
    for v in top.objs("vulnerabilities"):
        cve = normalize_vuln_id(v.need("cve_id"))
        for notice in v.objs("security_notices"):
            notice_id = notice.text("notice_id")
            aliases = (normalize_vuln_id(notice_id),) if notice_id and notice_id != cve else ()
            for pkg in notice.objs("vulnerable_packages"):
                fix = pkg.text("fix_version")
                report.findings.append(
                    Finding(
                        tool="va",
                        vuln_id=cve,
                        aliases=aliases,
                        package_name=pkg.need("package_name"),
                        package_type=ecosystem("os", os_family=family),
                        installed_version=pkg.text("installed_version") or "",
                        fixed_versions=(fix,) if fix else (),
                        severity=sev,
                        severity_source=SEVERITY_SOURCE,
                        title=notice.text("summary") or v.text("summary"),
                        description=pkg.text("description") or notice.text("notice"),
                        raw_index=len(report.raw_records),
                    )
                )
                report.raw_records.append(
                    Rec(
                        {"cve_id": cve, "notice": notice.data, "package": pkg.data}, pkg.where
                    ).original()
                )
    return report


PARSER = ReportParser(tool="va", report_format="va-v4-json", detect=detect, parse=parse)
