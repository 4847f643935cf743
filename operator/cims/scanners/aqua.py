"""Aqua reports: ``scannercli scan --jsonfile`` (resources[]), API v2 risk listings, v2 ``cves``.

Aqua's Trivy-based service emits Trivy JSON, which :mod:`cims.scanners.trivy` reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cims.errors import InputError
from cims.model import Cvss, Finding, ParsedReport, Severity, normalize_vuln_id
from cims.scanners import trivy
from cims.scanners.interface import (
    Invocation,
    Rec,
    ReportParser,
    ScanTarget,
    credential_args,
    ecosystem,
    make_cvss,
    need_setting,
    setting,
    split_versions,
)


def detect(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    if "resources" in doc and ("image" in doc or "vulnerability_summary" in doc):
        return True
    if "cves" in doc and "image_name" in doc:
        return True
    result = doc.get("result")
    return (
        isinstance(result, list)
        and bool(result)
        and isinstance(result[0], dict)
        and "aqua_severity" in result[0]
    )


def parse(doc: Any) -> ParsedReport:
    if doc in ([], {}):  # what Aqua writes when nothing was found
        return ParsedReport(tool="aqua", report_format="aqua-json")
    top = Rec(doc, "aqua report")
    if "resources" in top.data:
        return _parse_scanner(top)
    if "cves" in top.data:
        return _parse_cves(top)
    if "result" in top.data:
        return _parse_api(top)
    raise InputError(
        "aqua report: expected 'resources' (scannercli --jsonfile), 'result' (API v2) or 'cves'"
    )


def _ratings(v: Rec, vendor_name: str) -> tuple[Severity, dict[str, Severity], list[Cvss]]:
    """Aqua's own severity, the NVD and vendor (distro) ratings it quotes, the CVSS scores."""
    vendor: dict[str, Severity] = {}
    for key, src in (
        ("nvd_severity_v3", "nvd"),
        ("nvd_cvss3_severity", "nvd"),
        ("nvd_severity", "nvd"),
        ("vendor_severity_v3", vendor_name),
        ("vendor_severity", vendor_name),
    ):
        if v.text(key) and src not in vendor:
            vendor[src] = v.severity(key)
    cvss = [
        c
        for c in (
            make_cvss("nvd", v.text("nvd_vectors"), v.number("nvd_score"), "2.0"),
            make_cvss("nvd", v.text("nvd_vectors_v3"), v.number("nvd_score_v3"), "3.x"),
            make_cvss("nvd", v.text("nvd_cvss2_vectors"), v.number("nvd_cvss2_score"), "2.0"),
            make_cvss("nvd", v.text("nvd_cvss3_vectors"), v.number("nvd_cvss3_score"), "3.x"),
            make_cvss(vendor_name, v.text("vendor_vectors"), v.number("vendor_score"), "2.0"),
            make_cvss(vendor_name, v.text("vendor_vectors_v3"), v.number("vendor_score_v3"), "3.x"),
            make_cvss("aqua", v.text("aqua_vectors"), v.number("aqua_score")),
        )
        if c
    ]
    for key in ("aqua_severity", "severity"):
        if v.text(key):
            return v.severity(key), vendor, cvss
    fallback = vendor.get(vendor_name) or vendor.get("nvd") or Severity.UNKNOWN
    return fallback, vendor, cvss


def _finding(v: Rec, res: Rec, os_family: str | None, index: int) -> Finding:
    fmt = res.text("format") or res.text("type")
    pkg_type = ecosystem(fmt, os_family=os_family)
    is_os = pkg_type in ("deb", "rpm", "apk")
    sev, vendor, cvss = _ratings(v, (os_family or "vendor") if is_os else "vendor")
    links = [x for x in (v.text("nvd_url"), v.text("vendor_url"), v.text("url")) if x]
    return Finding(
        tool="aqua",
        vuln_id=normalize_vuln_id(v.need("name")),
        package_name=res.text("name") or res.need("path"),
        package_type=pkg_type,
        source_name=res.text("src_name"),
        source_version=res.text("src_version"),
        installed_version=res.text("version") or "",
        fixed_versions=split_versions(v.text("fix_version")),
        severity=sev,
        severity_source="aqua",
        vendor_severities=vendor,
        cvss=tuple(cvss),
        layer_digest=res.text("layer_digest"),
        path=res.text("path"),
        description=v.text("description"),
        links=tuple(links),
        published=v.text("publish_date"),
        modified=v.text("modification_date"),
        raw_index=index,
    )


def _parse_scanner(top: Rec) -> ParsedReport:
    report = ParsedReport(tool="aqua", report_format="aqua-scannercli-json")
    report.image_name = top.text("image")
    os_family = top.text("os")
    report.os = " ".join(x for x in (os_family, top.text("version")) if x) or None
    digest = top.text("digest")
    if digest:
        report.manifest_digests = (digest if digest.startswith("sha256:") else f"sha256:{digest}",)
    for entry in top.objs("resources"):
        res = entry.obj("resource")
        if res is None:
            raise InputError(f"{entry.where}: missing 'resource'")
        vulns = list(entry.objs("vulnerabilities"))
        if not res.text("name") and not res.text("path"):
            report.skipped.append(f"{entry.where}: resource without name or path")
            continue
        for v in vulns:
            report.findings.append(_finding(v, res, os_family, len(report.raw_records)))
            report.raw_records.append({"resource": res.data, "vulnerability": v.data})
    return report


def _parse_api(top: Rec) -> ParsedReport:
    report = ParsedReport(tool="aqua", report_format="aqua-api-v2-json")
    images = set()
    for v in top.objs("result"):
        res = v.obj("resource")
        if res is None:
            raise InputError(f"{v.where}: missing 'resource'")
        digest = v.text("image_digest")
        images.add((v.text("image_name"), digest))
        report.os = (
            report.os or " ".join(x for x in (v.text("os"), v.text("os_version")) if x) or None
        )
        report.findings.append(_finding(v, res, v.text("os"), len(report.raw_records)))
        report.raw_records.append(v.original())
    if len(images) > 1:
        raise InputError(
            f"aqua API report lists {len(images)} images; export one image's vulnerabilities "
            "(filter the API call by image) and import that"
        )
    if images:
        name, digest = images.pop()
        report.image_name = name
        report.manifest_digests = (digest,) if digest else ()
    return report


def _parse_cves(top: Rec) -> ParsedReport:
    report = ParsedReport(tool="aqua", report_format="aqua-v2-cves-json")
    report.image_name = top.text("image_name")
    for v in top.objs("cves"):
        res = Rec({"name": v.text("file"), "path": v.text("file"), "type": "binary"}, v.where)
        report.findings.append(_finding(v, res, None, len(report.raw_records)))
        report.raw_records.append(v.original())
    return report


PARSER = ReportParser(tool="aqua", report_format="aqua-json", detect=detect, parse=parse)


def invocation(target: ScanTarget, env: Mapping[str, str]) -> Invocation:
    """Aqua Enterprise ``scannercli scan``; with ``CIMS_AQUA_TRIVY_SERVER`` Aqua's Trivy server.

    scannercli exits 4 when the image is disallowed by policy: a scan that still wrote its
    JSON file counts as done.
    """
    if setting(env, "CIMS_AQUA_TRIVY_SERVER"):
        return trivy.invocation(target, env, server_of="aqua")
    out = target.workdir / "aqua.json"
    argv = [env.get("CIMS_SCANNERCLI", "scannercli"), "scan"]
    argv += ["--host", need_setting(env, "CIMS_AQUA_HOST", "aqua")]
    creds, secrets = credential_args(env, "CIMS_AQUA", "aqua")
    argv += creds
    registry = setting(env, "CIMS_AQUA_REGISTRY")
    image = target.by_digest
    if registry:  # the image as Aqua's registry integration names it
        argv += ["--registry", registry]
        tag = target.image.tag
        image = f"{target.image.repository}:{tag}" if tag else target.image.repository
    else:
        argv.append("--local")
    argv += ["--jsonfile", str(out), image]
    return Invocation(
        argv=tuple(argv), output=out, secrets=tuple(secrets), policy_exit_codes=frozenset({4})
    )
