"""Grype JSON reports (``grype -o json``), from the 0.7 schema to current releases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from packageurl import PackageURL

from cims.errors import InputError
from cims.model import Cvss, Finding, ParsedReport, normalize_vuln_id
from cims.oci import plain_http
from cims.scanners.interface import (
    Invocation,
    Rec,
    ReportParser,
    ScanTarget,
    ecosystem,
    make_cvss,
    setting,
)


def detect(doc: Any) -> bool:
    return isinstance(doc, dict) and "matches" in doc and ("source" in doc or "descriptor" in doc)


def parse(doc: Any) -> ParsedReport:
    top = Rec(doc, "grype report")
    if not isinstance(top.get("matches"), list):
        raise InputError("grype report: missing the 'matches' list; re-run grype with -o json")
    report = ParsedReport(tool="grype", report_format="grype-json")
    desc = top.obj("descriptor")
    if desc:
        report.tool_version = desc.text("version")
    distro = top.obj("distro")
    os_family = distro.text("name") if distro else None
    if distro:
        report.os = " ".join(x for x in (os_family, distro.text("version")) if x) or None
    source = top.obj("source")
    target = source.get("target") if source else None
    if isinstance(target, dict):
        tgt = Rec(target, "grype report.source.target")
        report.image_name = tgt.text("userInput")
        report.image_id = tgt.text("imageID")
        digests = [tgt.text("manifestDigest")]
        digests += [d.split("@", 1)[1] for d in tgt.texts("repoDigests") if "@" in d]
        report.manifest_digests = tuple(dict.fromkeys(d for d in digests if d))
    for match in top.objs("matches"):
        report.findings.append(_finding(match, os_family, len(report.raw_records)))
        report.raw_records.append(match.original())
    return report


def _namespace_source(namespace: str | None) -> str | None:
    """Who rated the vulnerability, from grype's namespace ("ubuntu:distro:ubuntu:22.04")."""
    if not namespace:
        return None
    head = namespace.split(":", 1)[0]
    if head == "github":
        return "ghsa"
    return head


def _matched_distro(match: Rec) -> str | None:
    """Old grype names no namespace; a distro match (searchKey/searchedBy) says who rated it."""
    details = match.get("matchDetails")
    first = details[0] if isinstance(details, list) and details else details
    if not isinstance(first, dict):
        return None
    det = Rec(first, f"{match.where}.matchDetails")
    for key in ("searchKey", "searchedBy"):
        search = det.obj(key)
        distro = search.obj("distro") if search else None
        if distro and distro.text("type"):
            return distro.text("type")
    return None


def _cvss_list(vuln: Rec, source: str) -> list[Cvss]:
    out: list[Cvss] = []
    for item in vuln.objs("cvss"):
        metrics = item.obj("metrics")
        made = make_cvss(
            item.text("source") or source,
            item.text("vector"),
            metrics.number("baseScore") if metrics else None,
            item.text("version") or "",
        )
        if made:
            out.append(made)
    for key, ver in (("cvssV2", "2.0"), ("cvssV3", "3.x")):  # grype < 0.10
        old = vuln.obj(key)
        if old:
            made = make_cvss(source, old.text("vector"), old.number("baseScore"), ver)
            if made:
                out.append(made)
    return out


def _finding(match: Rec, os_family: str | None, index: int) -> Finding:
    vuln = match.obj("vulnerability")
    art = match.obj("artifact")
    if vuln is None or art is None:
        raise InputError(f"{match.where}: missing 'vulnerability' or 'artifact'")
    vid = normalize_vuln_id(vuln.need("id"))
    rater = _namespace_source(vuln.text("namespace")) or _matched_distro(match)
    cvss = _cvss_list(vuln, rater or "grype")
    aliases: list[str] = []
    links = list(vuln.texts("urls") or vuln.texts("links"))
    data_source = vuln.text("dataSource")
    if data_source and data_source not in links:
        links.insert(0, data_source)
    description = vuln.text("description")
    vendor = {}
    if rater:
        vendor[rater] = vuln.severity("severity")
    for rel in match.objs("relatedVulnerabilities"):
        rid = normalize_vuln_id(rel.need("id"))
        if rid != vid:
            aliases.append(rid)
        rel_source = _namespace_source(rel.text("namespace")) or "related"
        cvss.extend(_cvss_list(rel, rel_source))
        if rel.get("severity") is not None:
            vendor.setdefault(rel_source, rel.severity("severity"))
        description = description or rel.text("description")
    purl = art.text("purl")
    source_name = source_version = None
    for up in art.objs("upstreams"):
        source_name = up.text("name")
        source_version = up.text("version")
        break
    if purl and source_name is None:
        source_name, source_version = _purl_upstream(purl)
    pkg_type = ecosystem(art.text("type"), os_family=os_family)
    locations = list(art.objs("locations"))
    path = locations[0].text("path") if locations else None
    layer = locations[0].text("layerID") if locations else None
    fix = vuln.obj("fix")
    fixed = fix.texts("versions") if fix else ()
    if not fixed and vuln.text("fixedInVersion"):
        fixed = (vuln.need("fixedInVersion"),)
    return Finding(
        tool="grype",
        vuln_id=vid,
        aliases=tuple(dict.fromkeys(aliases)),
        package_name=art.need("name"),
        package_type=pkg_type,
        purl=purl,
        source_name=source_name,
        source_version=source_version,
        installed_version=art.text("version") or "",
        fixed_versions=fixed,
        severity=vuln.severity("severity"),
        severity_source=rater,
        vendor_severities=vendor,
        cvss=tuple(cvss),
        layer_digest=layer,
        path=path,
        description=description,
        links=tuple(links),
        raw_index=index,
    )


def _purl_upstream(purl: str) -> tuple[str | None, str | None]:
    """Source package from a purl's ``upstream`` qualifier ("glibc@2.35-0ubuntu3" or "glibc")."""
    if "upstream=" not in purl:  # most purls have none: skip the full parse
        return None, None
    try:
        qualifiers = PackageURL.from_string(purl).qualifiers
    except ValueError:
        return None, None
    upstream = qualifiers.get("upstream") if isinstance(qualifiers, dict) else None
    if not upstream:
        return None, None
    name, _, version = str(upstream).partition("@")
    return name or None, version or None


PARSER = ReportParser(tool="grype", report_format="grype-json", detect=detect, parse=parse)


def invocation(target: ScanTarget, env: Mapping[str, str]) -> Invocation:
    """``grype registry:IMAGE@DIGEST -o json --file OUT`` (or ``sbom:FILE``), DB from settings."""
    out = target.workdir / "grype.json"
    source = f"sbom:{target.sbom}" if target.sbom else f"registry:{target.by_digest}"
    argv = (env.get("CIMS_GRYPE", "grype"), source, "-o", "json", "--file", str(out), "-q")
    extra: dict[str, str] = {}
    db_dir = setting(env, "CIMS_GRYPE_DB_DIR")
    if db_dir:
        extra["GRYPE_DB_CACHE_DIR"] = db_dir
    if (env.get("CIMS_GRYPE_OFFLINE") or "").lower() in ("1", "true", "yes"):
        extra["GRYPE_DB_AUTO_UPDATE"] = "false"
        extra["GRYPE_DB_VALIDATE_AGE"] = "false"
        extra["GRYPE_CHECK_FOR_APP_UPDATE"] = "false"
    if plain_http(target.image.registry, env):
        extra["GRYPE_REGISTRY_INSECURE_USE_HTTP"] = "true"
    return Invocation(argv=argv, output=out, env=extra)
