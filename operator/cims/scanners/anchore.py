"""Anchore Engine (``anchore-cli image vuln IMAGE all``) and anchorectl vulnerability reports."""

from __future__ import annotations

from typing import Any

from cims.errors import InputError
from cims.model import Cvss, Finding, ParsedReport, normalize_vuln_id
from cims.scanners.interface import Rec, ReportParser, ecosystem, make_cvss, records

# anchore-cli writes snake_case, anchorectl camelCase: one table maps both to one name.
_FIELDS = {
    "vuln": "vuln",
    "package_name": "packageName",
    "package_version": "packageVersion",
    "package_type": "packageType",
    "package_path": "packagePath",
    "feed_group": "feedGroup",
}


def detect(doc: Any) -> bool:
    if isinstance(doc, dict):
        return "imageDigest" in doc and "vulnerabilities" in doc
    return (
        isinstance(doc, list)
        and bool(doc)
        and isinstance(doc[0], dict)
        and "vuln" in doc[0]
        and "packageName" in doc[0]
    )


def _field(v: Rec, name: str) -> str | None:
    return v.text(name) or v.text(_FIELDS[name])


def parse(doc: Any) -> ParsedReport:
    if isinstance(doc, list):
        report = ParsedReport(tool="anchore", report_format="anchorectl-json")
        vulns = list(records(doc, "anchorectl report"))
    else:
        top = Rec(doc, "anchore report")
        report = ParsedReport(tool="anchore", report_format="anchore-engine-json")
        digest = top.text("imageDigest")
        report.manifest_digests = (digest,) if digest else ()
        vulns = list(top.objs("vulnerabilities"))
    for v in vulns:
        vid = _field(v, "vuln")
        name = _field(v, "package_name")
        if not vid or not name:
            raise InputError(f"{v.where}: missing 'vuln' or 'package_name'")
        group = _field(v, "feed_group") or ""  # "debian:9" for distro feeds, "nvdv2:cves" else
        family = group.split(":", 1)[0] if ":" in group else None
        pkg_type = ecosystem(_field(v, "package_type"), os_family=family)
        is_distro = pkg_type in ("deb", "rpm", "apk")
        cvss: list[Cvss] = []
        for nvd in v.objs("nvd_data"):
            for key, ver in (("cvss_v2", "2.0"), ("cvss_v3", "3.x")):
                data = nvd.obj(key)
                made = make_cvss("nvd", None, data.number("base_score") if data else None, ver)
                if made:
                    cvss.append(made)
        fix = v.text("fix")
        report.findings.append(
            Finding(
                tool="anchore",
                vuln_id=normalize_vuln_id(vid),
                package_name=name,
                package_type=pkg_type,
                installed_version=_field(v, "package_version") or "",
                fixed_versions=(fix,) if fix and fix.lower() != "none" else (),
                severity=v.severity("severity"),
                severity_source=family if is_distro else "nvd",
                cvss=tuple(cvss),
                path=_field(v, "package_path"),
                links=v.texts("url"),
                raw_index=len(report.raw_records),
            )
        )
        report.raw_records.append(v.original())
    return report


PARSER = ReportParser(tool="anchore", report_format="anchore-json", detect=detect, parse=parse)
