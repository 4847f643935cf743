"""CycloneDX JSON BOMs with a ``vulnerabilities`` section (VEX), e.g. ``trivy -f cyclonedx``."""

from __future__ import annotations

from typing import Any

from packageurl import PackageURL

from cims.errors import InputError
from cims.model import Cvss, Finding, ParsedReport, Severity, normalize_vuln_id
from cims.scanners.interface import Rec, ReportParser, ecosystem, make_cvss
from cims.scanners.sarif import tool_of

_DISTRO_SOURCES = ("debian", "ubuntu", "alpine", "redhat", "amazon", "oracle-oval", "photon")


def detect(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("bomFormat") == "CycloneDX"


def _tool(meta: Rec | None) -> tuple[str, str | None]:
    tools = meta.get("tools") if meta else None
    if isinstance(tools, dict):  # CycloneDX 1.5+: {"components": [...]}
        tools = tools.get("components")
    if isinstance(tools, list) and tools and isinstance(tools[0], dict):
        first = Rec(tools[0], "cyclonedx.metadata.tools[0]")
        return tool_of(first.text("name")), first.text("version")
    raise InputError("cyclonedx report: metadata.tools names no tool; cannot tell who scanned")


def parse(doc: Any) -> ParsedReport:
    top = Rec(doc, "cyclonedx report")
    meta = top.obj("metadata")
    tool, version = _tool(meta)
    report = ParsedReport(tool=tool, tool_version=version, report_format="cyclonedx-json")
    comp = meta.obj("component") if meta else None
    if comp:
        report.image_name = comp.text("name")
    components = {c.text("bom-ref"): c for c in top.objs("components") if c.text("bom-ref")}
    for v in top.objs("vulnerabilities"):
        for affect in v.objs("affects"):
            ref = affect.need("ref")
            report.findings.append(
                _finding(v, ref, components.get(ref), tool, len(report.raw_records))
            )
            report.raw_records.append(
                Rec({"vulnerability": v.data, "ref": ref}, v.where).original()
            )
    return report


def _purl_of(ref: str, comp: Rec | None) -> PackageURL:
    text = comp.text("purl") if comp else None
    if not text and "pkg:" in ref:  # Trivy's bom-refs end in the purl: "urn:cdx:...#pkg:rpm/..."
        text = ref[ref.index("pkg:") :]
    if not text:
        raise InputError(f"cyclonedx report: affected ref {ref!r} resolves to no package URL")
    try:
        return PackageURL.from_string(text)
    except ValueError as err:
        raise InputError(f"cyclonedx report: bad package URL {text!r}: {err}") from None


def _finding(v: Rec, ref: str, comp: Rec | None, tool: str, index: int) -> Finding:
    purl = _purl_of(ref, comp)
    vendor: dict[str, Severity] = {}
    cvss: list[Cvss] = []
    for rating in v.objs("ratings"):
        src = rating.obj("source")
        name = (src.text("name") if src else None) or tool
        if rating.text("severity"):
            vendor.setdefault(name, rating.severity("severity"))
        method = (rating.text("method") or "").upper()
        ver = {"CVSSV2": "2.0", "CVSSV3": "3.0", "CVSSV31": "3.1", "CVSSV4": "4.0"}.get(method, "")
        made = make_cvss(name, rating.text("vector"), rating.number("score"), ver)
        if made:
            cvss.append(made)
    distro = next((s for s in _DISTRO_SOURCES if s in vendor), None)
    rater = distro or ("nvd" if "nvd" in vendor else next(iter(vendor), None))
    aliases = tuple(normalize_vuln_id(r.need("id")) for r in v.objs("references") if r.text("id"))
    name = f"{purl.namespace}/{purl.name}" if purl.type in ("maven", "npm", "golang") else purl.name
    if purl.type == "maven" and purl.namespace:
        name = f"{purl.namespace}:{purl.name}"
    return Finding(
        tool=tool,
        vuln_id=normalize_vuln_id(v.need("id")),
        aliases=aliases,
        package_name=name,
        package_type=ecosystem(purl.type),
        purl=purl.to_string(),
        installed_version=purl.version or "",
        severity=vendor.get(rater, Severity.UNKNOWN) if rater else Severity.UNKNOWN,
        severity_source=rater,
        vendor_severities=vendor,
        cvss=tuple(cvss),
        description=v.text("description"),
        links=tuple(a.need("url") for a in v.objs("advisories") if a.text("url")),
        published=v.text("published"),
        modified=v.text("updated"),
        raw_index=index,
    )


PARSER = ReportParser(tool="", report_format="cyclonedx-json", detect=detect, parse=parse)
