"""Severity policy: one severity for a correlated finding, and the name of where it came from."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from enum import StrEnum

from cims.model import Finding, Severity

DISTRO_SOURCES = frozenset(
    {
        "debian",
        "ubuntu",
        "alpine",
        "redhat",
        "rhel",
        "centos",
        "amazon",
        "oracle",
        "oracle-oval",
        "photon",
        "suse",
        "opensuse",
        "rocky",
        "alma",
        "almalinux",
        "fedora",
        "wolfi",
        "chainguard",
        "cbl-mariner",
        "azure",
        "mariner",
    }
)
VA_DEFAULT = "va-default"


class Policy(StrEnum):
    VENDOR = "vendor"  # the distro's rating when a tool gives one, else the highest
    HIGHEST = "highest"
    LOWEST = "lowest"
    MAJORITY = "majority"
    TOOL_ORDER = "tool-order"


DEFAULT_TOOL_ORDER = ("twistlock", "aqua", "trivy", "grype", "snyk", "anchore", "clair", "va")


def _tool_ratings(members: Sequence[Finding]) -> list[tuple[Severity, str]]:
    """Each tool's own rating (VA's default only where no tool has a real one)."""
    real = [(f.severity, f.tool) for f in members if f.severity_source != VA_DEFAULT]
    known = [r for r in real if r[0] is not Severity.UNKNOWN]
    if known:
        return known
    if real:
        return real
    return [(f.severity, f"{f.tool} default") for f in members]


def _distro_ratings(members: Sequence[Finding], distro: str | None) -> list[tuple[Severity, str]]:
    """Ratings by the image's own distro: a tool's rating it says came from a distro, and the
    rating of ``distro`` among the vendor ratings a tool quotes (Trivy quotes other distros' too,
    which say nothing about this image)."""
    out: list[tuple[Severity, str]] = []
    for f in members:
        if f.severity_source in DISTRO_SOURCES and f.severity is not Severity.UNKNOWN:
            out.append((f.severity, f"{f.severity_source} via {f.tool}"))
        sev = f.vendor_severities.get(distro) if distro else None
        if sev is not None and sev is not Severity.UNKNOWN:
            out.append((sev, f"{distro} via {f.tool}"))
    return out


def image_distro(findings: Sequence[Finding]) -> str | None:
    """The distro whose ratings apply to an image: the one its tools most often rated by."""
    counts = Counter(f.severity_source for f in findings if f.severity_source in DISTRO_SOURCES)
    if not counts:
        # A tool that quotes exactly one distro's rating (Aqua's vendor_severity) quotes the
        # image's own; Trivy quotes every distro's, which says nothing about this image.
        for f in findings:
            quoted = [src for src in f.vendor_severities if src in DISTRO_SOURCES]
            if len(quoted) == 1:
                counts[quoted[0]] += 1
    return max(counts.items(), key=lambda kv: (kv[1], kv[0] or ""))[0] if counts else None


def resolve(
    members: Sequence[Finding],
    policy: Policy = Policy.VENDOR,
    tool_order: Sequence[str] = DEFAULT_TOOL_ORDER,
    distro: str | None = None,
) -> tuple[Severity, str]:
    """(severity, source) of a correlated finding under ``policy``."""
    ratings = _tool_ratings(members)
    if policy is Policy.VENDOR:
        by_distro = _distro_ratings(members, distro)
        if by_distro:
            # Distro ratings of one CVE in one package seldom differ; when they do, the highest.
            sev, src = max(by_distro, key=lambda r: (r[0].rank, r[1]))
            return sev, src
        sev, src = max(ratings, key=lambda r: (r[0].rank, r[1]))
        return sev, f"highest of tools ({src})"
    if policy is Policy.HIGHEST:
        sev, src = max(ratings, key=lambda r: (r[0].rank, r[1]))
        return sev, src
    if policy is Policy.LOWEST:
        sev, src = min(ratings, key=lambda r: (r[0].rank, r[1]))
        return sev, src
    if policy is Policy.MAJORITY:
        counts = Counter(r[0] for r in ratings)
        top = max(counts.items(), key=lambda item: (item[1], item[0].rank))[0]
        voters = sorted(src for sev, src in ratings if sev is top)
        return top, f"majority ({', '.join(voters)})"
    order = {tool: i for i, tool in enumerate(tool_order)}
    sev, src = min(ratings, key=lambda r: (order.get(r[1], len(order)), r[1]))
    return sev, f"tool order ({src})"
