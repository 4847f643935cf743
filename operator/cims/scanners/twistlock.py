"""Prisma Cloud Compute (Twistlock) ``twistcli images scan --details --output-file`` reports."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cims.errors import InputError
from cims.model import Finding, ParsedReport, normalize_vuln_id
from cims.scanners.interface import (
    OS_FAMILIES,
    Invocation,
    Rec,
    ReportParser,
    ScanTarget,
    credential_args,
    ecosystem,
    make_cvss,
    need_setting,
    setting,
)

# "glibc (used in libc6, multiarch-support, libc-bin)": a source package and its binaries
_USED_IN = re.compile(r"^(?P<src>[^\s(]+)\s*\(used in (?P<bins>[^)]*)\)\s*$")
_DISTRO_LINK = re.compile(
    r"security-tracker\.debian\.org|ubuntu\.com/security|access\.redhat\.com|"
    r"security\.alpinelinux\.org|alas\.aws\.amazon\.com|linux\.oracle\.com"
)
_FIXED_IN = re.compile(r"fixed in (?P<versions>.+)$", re.IGNORECASE)


def detect(doc: Any) -> bool:
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        return False
    first = doc["results"][0] if doc["results"] else {}
    return isinstance(first, dict) and (
        "vulnerabilityDistribution" in first or "complianceDistribution" in first
    )


def parse(doc: Any) -> ParsedReport:
    top = Rec(doc, "twistcli report")
    results = list(top.objs("results"))
    if not results:
        raise InputError("twistcli report: 'results' is empty; expected one scanned image")
    report = ParsedReport(tool="twistlock", report_format="twistcli-json")
    for res in results:
        _parse_result(res, report)
    return report


def os_family(distro: str | None) -> str | None:
    """The OS family a Prisma Cloud distro text names ("Debian GNU/Linux 9", "alpine")."""
    text = (distro or "").lower()
    return next((family for family in OS_FAMILIES if family in text), None)


def _parse_result(res: Rec, report: ParsedReport) -> None:
    report.image_id = report.image_id or res.text("id")
    report.image_name = report.image_name or res.text("name")
    distro = res.text("distro")
    report.os = report.os or distro
    family = os_family(distro)
    pkg_types: dict[str, str] = {}
    for pkg in res.objs("packages"):
        name = pkg.text("name")
        if name:
            pkg_types.setdefault(name, pkg.text("type") or "")
    compliances = res.count("compliances")
    if compliances:
        report.skipped.append(f"{res.where}: {compliances} compliance issues (not CVEs)")
    for vuln in res.objs("vulnerabilities"):
        report.findings.append(_finding(vuln, pkg_types, family, len(report.raw_records)))
        report.raw_records.append(vuln.original())


def package_fields(
    name: str, binaries: tuple[str, ...], pkg_type: str, family: str | None
) -> dict[str, Any]:
    """Package fields of a Prisma Cloud finding (twistcli or console): an OS package is named
    by its source package with its binaries; Prisma rates OS packages by the distro and the
    others by NVD."""
    is_os = pkg_type in ("deb", "rpm", "apk")
    return {
        "package_name": binaries[0] if binaries else name,
        "package_type": pkg_type,
        "source_name": name if is_os else None,
        "binary_names": binaries,
        "severity_source": (family or "vendor") if is_os else "nvd",
    }


def fixed_in(status: str | None) -> tuple[str, ...]:
    """Fixed versions from a Prisma Cloud status ("fixed in 1.2.3, 1.3.1"; other words: none)."""
    match = _FIXED_IN.search(status or "")
    if not match:
        return ()
    return tuple(x.strip() for x in match["versions"].split(",") if x.strip())


def _finding(v: Rec, pkg_types: dict[str, str], family: str | None, index: int) -> Finding:
    vid = normalize_vuln_id(v.need("id"))
    raw_name = v.need("packageName")
    name, binaries = raw_name, tuple[str, ...]()
    match = _USED_IN.match(raw_name)
    if match:
        name = match["src"]
        binaries = tuple(b.strip() for b in str(match["bins"]).split(",") if b.strip())
    kind = pkg_types.get(name) or next((pkg_types[b] for b in binaries if b in pkg_types), None)
    links = v.texts("link")
    if kind is None:
        # The inventory does not list it: a distro tracker link still says "OS package".
        kind = "os" if binaries or any(_DISTRO_LINK.search(x) for x in links) else "unknown"
    cvss = make_cvss("twistlock", v.text("vector"), v.number("cvss"))
    return Finding(
        tool="twistlock",
        vuln_id=vid,
        **package_fields(name, binaries, ecosystem(kind, os_family=family), family),
        installed_version=v.text("packageVersion") or "",
        fixed_versions=fixed_in(v.text("status")),
        severity=v.severity("severity"),
        cvss=(cvss,) if cvss else (),
        description=v.text("description"),
        links=links,
        published=v.text("publishedDate"),
        modified=v.text("discoveredDate"),
        raw_index=index,
    )


PARSER = ReportParser(tool="twistlock", report_format="twistcli-json", detect=detect, parse=parse)


def invocation(target: ScanTarget, env: Mapping[str, str]) -> Invocation:
    """``twistcli images scan --address URL <auth> --details --output-file OUT IMAGE``.

    twistcli ignores options placed after the image, so the image is last. It exits 1 both
    when the image fails its policy and when twistcli itself fails: the runtime judges by the
    output file, so 1 is accepted here and a missing or unreadable file is the failure.
    """
    out = target.workdir / "twistlock.json"
    argv = [env.get("CIMS_TWISTCLI", "twistcli"), "images", "scan"]
    argv += ["--address", need_setting(env, "CIMS_TWISTLOCK_ADDRESS", "twistlock")]
    creds, secrets = credential_args(env, "CIMS_TWISTLOCK", "twistlock")
    argv += creds
    docker = setting(env, "CIMS_TWISTLOCK_DOCKER_ADDRESS")
    if docker:
        argv += ["--docker-address", docker]
    argv += ["--details", "--output-file", str(out)]
    tarball = setting(env, "CIMS_TWISTLOCK_TARBALL")
    if tarball:
        argv += ["--tarball", tarball]
    argv.append(target.by_digest)
    return Invocation(
        argv=tuple(argv),
        output=out,
        secrets=tuple(secrets),
        ok_exit_codes=frozenset({0}),
        policy_exit_codes=frozenset({1}),
    )
