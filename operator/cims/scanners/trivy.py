"""Trivy JSON reports: schema 2 (0.20+, with or without PkgIdentifier) and the legacy list."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cims.errors import InputError
from cims.model import Cvss, Finding, ParsedReport, Severity, normalize_vuln_id
from cims.oci import plain_http
from cims.scanners.interface import (
    Invocation,
    Rec,
    ReportParser,
    ScanTarget,
    ecosystem,
    make_cvss,
    need_setting,
    records,
    setting,
    split_versions,
)

_NON_VULN_CLASSES = ("Misconfigurations", "Secrets", "Licenses")
_LEGACY_OS = re.compile(r"\(([a-z][a-z-]*) [0-9][^)]*\)$")


def detect(doc: Any) -> bool:
    if isinstance(doc, dict):
        return "SchemaVersion" in doc and ("Results" in doc or "ArtifactName" in doc)
    if isinstance(doc, list) and doc and isinstance(doc[0], dict):
        return "Target" in doc[0] and ("Vulnerabilities" in doc[0] or "Type" in doc[0])
    return False


def parse(doc: Any) -> ParsedReport:
    report = ParsedReport(tool="trivy", report_format="trivy-json")
    if doc is None:  # a legacy Trivy run with nothing to report prints `null`
        report.report_format = "trivy-json-legacy"
        return report
    if isinstance(doc, list):
        report.report_format = "trivy-json-legacy"
        results = list(records(doc, "trivy report"))
        os_family = None
    else:
        top = Rec(doc, "trivy report")
        schema = top.get("SchemaVersion")
        if schema != 2:
            raise InputError(
                f"trivy report: SchemaVersion {schema!r} is not supported (expected 2); "
                "re-run trivy with -f json"
            )
        meta = top.obj("Metadata")
        trivy = top.obj("Trivy")
        report.tool_version = trivy.text("Version") if trivy else None
        report.image_name = top.text("ArtifactName")
        os_family = None
        if meta:
            os_rec = meta.obj("OS")
            if os_rec:
                os_family = os_rec.text("Family")
                report.os = " ".join(x for x in (os_family, os_rec.text("Name")) if x)
            report.image_id = meta.text("ImageID")
            report.manifest_digests = tuple(
                d.split("@", 1)[1] for d in meta.texts("RepoDigests") if "@" in d
            )
        results = list(top.objs("Results"))
    for res in results:
        _parse_result(res, os_family, report)
    return report


def _parse_result(res: Rec, os_family: str | None, report: ParsedReport) -> None:
    rtype = res.text("Type")
    cls = res.text("Class")
    for key in _NON_VULN_CLASSES:
        items = res.count(key)
        if items:
            report.skipped.append(f"{res.where}: {items} {key.lower()} (not vulnerabilities)")
    if cls in ("config", "secret", "license", "license-file"):
        return
    # Legacy reports name no OS family; the result Type is the OS family there (debian, alpine ...)
    family = os_family if cls == "os-pkgs" or cls is None else None
    if cls is None:
        # legacy reports: the Type is the OS family, or the target ends in "(alpine 3.10.2)"
        match = _LEGACY_OS.search(res.text("Target") or "")
        family = rtype or (match.group(1) if match else None)
    for vuln in res.objs("Vulnerabilities"):
        if not vuln.text("VulnerabilityID") or not vuln.text("PkgName"):
            report.skipped.append(f"{vuln.where}: no VulnerabilityID or PkgName, not a finding")
            continue
        report.findings.append(_finding(vuln, rtype, family, len(report.raw_records)))
        report.raw_records.append(vuln.original())


def _finding(v: Rec, rtype: str | None, os_family: str | None, index: int) -> Finding:
    vid = normalize_vuln_id(v.need("VulnerabilityID"))
    ident = v.obj("PkgIdentifier")
    purl = ident.text("PURL") if ident else None
    layer = v.obj("Layer")
    vendor: dict[str, Severity] = {}
    vs = v.obj("VendorSeverity")
    if vs:
        for src in vs.data:
            vendor[src] = vs.severity(src)
    cvss: list[Cvss] = []
    cv = v.obj("CVSS")
    if cv:
        for src in cv.data:
            one = cv.obj(src)
            if one is None:
                continue
            for vec_key, score_key, ver in (
                ("V2Vector", "V2Score", "2.0"),
                ("V3Vector", "V3Score", "3.x"),
                ("V40Vector", "V40Score", "4.0"),
            ):
                item = make_cvss(src, one.text(vec_key), one.number(score_key), ver)
                if item:
                    cvss.append(item)
    pkg_type = ecosystem(rtype, os_family=os_family)
    if purl and purl.startswith("pkg:"):
        pkg_type = ecosystem(purl[4:].split("/", 1)[0], os_family=os_family)
    links = v.texts("References")
    primary = v.text("PrimaryURL")
    if primary and primary not in links:
        links = (primary, *links)
    return Finding(
        tool="trivy",
        vuln_id=vid,
        package_name=v.need("PkgName"),
        package_type=pkg_type,
        purl=purl,
        source_name=v.text("SrcName"),
        source_version=v.text("SrcVersion"),
        installed_version=v.text("InstalledVersion") or "",
        fixed_versions=split_versions(v.text("FixedVersion")),
        severity=v.severity("Severity"),
        severity_source=v.text("SeveritySource"),
        vendor_severities=vendor,
        cvss=tuple(cvss),
        layer_digest=layer.text("Digest") if layer else None,
        path=v.text("PkgPath"),
        title=v.text("Title"),
        description=v.text("Description"),
        links=links,
        published=v.text("PublishedDate"),
        modified=v.text("LastModifiedDate"),
        raw_index=index,
    )


PARSER = ReportParser(tool="trivy", report_format="trivy-json", detect=detect, parse=parse)


# --- running it ------------------------------------------------------------------------------


def invocation(target: ScanTarget, env: Mapping[str, str], *, server_of: str = "") -> Invocation:
    """``trivy image`` (or ``trivy sbom``) writing JSON; offline DB options from the settings.

    With ``server_of`` ("aqua"), Trivy is a client of that tool's Trivy server: URL and token
    come from ``CIMS_AQUA_TRIVY_SERVER`` / ``CIMS_AQUA_TRIVY_TOKEN`` and the token reaches
    Trivy through its ``TRIVY_TOKEN`` variable, never argv.
    """
    out = target.workdir / f"{server_of or 'trivy'}-trivy.json"
    argv = [env.get("CIMS_TRIVY", "trivy"), "sbom" if target.sbom else "image"]
    argv += ["--format", "json", "--output", str(out), "--quiet"]
    extra: dict[str, str] = {}
    secrets: list[str] = []
    cache = setting(env, "CIMS_TRIVY_CACHE_DIR")
    if cache:
        argv += ["--cache-dir", cache]
    if (env.get("CIMS_TRIVY_OFFLINE") or "").lower() in ("1", "true", "yes"):
        argv += ["--skip-db-update", "--skip-java-db-update", "--offline-scan"]
    if server_of:
        prefix = f"CIMS_{server_of.upper()}_TRIVY"
        argv += ["--server", need_setting(env, f"{prefix}_SERVER", server_of)]
        token = setting(env, f"{prefix}_TOKEN")
        if token:
            extra["TRIVY_TOKEN"] = token
            secrets.append(token)
    if plain_http(target.image.registry, env):
        extra["TRIVY_INSECURE"] = "true"
    argv.append(str(target.sbom) if target.sbom else target.by_digest)
    return Invocation(argv=tuple(argv), output=out, env=extra, secrets=tuple(secrets))
