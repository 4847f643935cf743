"""Package identity and version equality, ecosystem by ecosystem.

Identity is (ecosystem, normalized name). Distro packages are identified by their *source*
package when any report of the image says which source a binary comes from, so Trivy's
``libc6``/``libc-bin`` rows and twistcli's ``glibc (used in libc6, ...)`` meet. Versions are
compared with ecosystem semantics through univers (Debian epochs and revisions, RPM, Alpine,
PEP 440, semver, Maven, Go).
"""

from __future__ import annotations

import re
from functools import lru_cache

from univers import versions as uv

from cims.model import Finding

OS_ECOSYSTEMS = frozenset({"deb", "rpm", "apk"})
_PEP503 = re.compile(r"[-_.]+")

_VERSION_CLASSES: dict[str, type[uv.Version]] = {
    "deb": uv.DebianVersion,
    "rpm": uv.RpmVersion,
    "apk": uv.AlpineLinuxVersion,
    "pypi": uv.PypiVersion,
    "npm": uv.SemverVersion,
    "cargo": uv.SemverVersion,
    "maven": uv.MavenVersion,
    "golang": uv.GolangVersion,
    "gem": uv.RubygemsVersion,
    "nuget": uv.NugetVersion,
    "composer": uv.ComposerVersion,
}


def normalize_name(ecosystem: str, name: str) -> str:
    """The name as the ecosystem compares it (PEP 503 for PyPI, group:artifact for Maven)."""
    name = name.strip()
    if ecosystem == "pypi":
        return _PEP503.sub("-", name).lower()
    if ecosystem == "maven":
        return name.replace("/", ":").lower()
    if ecosystem in ("npm", "deb", "apk", "rpm", "gem", "cargo", "composer"):
        return name.lower()
    if ecosystem == "nuget":
        return name.lower()
    return name


def source_map(findings: list[Finding]) -> dict[tuple[str, str], str]:
    """binary package -> source package, as any report of this image states it."""
    out: dict[tuple[str, str], str] = {}
    for f in findings:
        if f.package_type not in OS_ECOSYSTEMS or not f.source_name:
            continue
        src = f.source_name.lower()
        for binary in (f.package_name, *f.binary_names):
            out.setdefault((f.package_type, binary.lower()), src)
    return out


def identity(f: Finding, sources: dict[tuple[str, str], str]) -> tuple[str, str]:
    """(ecosystem, name) of the package this finding is about."""
    eco = f.package_type
    if eco in OS_ECOSYSTEMS:
        name = f.source_name or sources.get((eco, f.package_name.lower())) or f.package_name
        return eco, name.lower()
    return eco, normalize_name(eco, f.package_name)


def version_key(f: Finding) -> str:
    """The version the identity is at: the source version for distro source packages."""
    if f.package_type in OS_ECOSYSTEMS and f.source_name and f.source_version:
        return f.source_version
    return f.installed_version


@lru_cache(maxsize=65536)
def _parse(ecosystem: str, version: str) -> uv.Version | None:
    cls = _VERSION_CLASSES.get(ecosystem)
    if cls is None or not version:
        return None
    text = version
    if ecosystem == "golang" and text.startswith("go"):
        text = text[2:]  # Go's stdlib as "go1.21.3"
    try:
        return cls(text)
    except Exception:  # univers raises several types for unparseable input
        return None


def same_version(ecosystem: str, a: str, b: str) -> str | None:
    """Why ``a`` and ``b`` are the same version of one package, or None if they are not."""
    if a == b:
        return "same version"
    va, vb = _parse(ecosystem, a), _parse(ecosystem, b)
    if va is not None and vb is not None and va == vb:
        return f"{a} == {b} under {ecosystem} version rules"
    if ecosystem in ("deb", "rpm"):
        # Some tools drop a non-zero epoch ("1:2.66-4" vs "2.66-4"): same package build.
        sa, sb = a.split(":", 1)[-1], b.split(":", 1)[-1]
        if sa == sb and (":" in a) != (":" in b):
            return f"{a} ~ {b}: one tool omits the epoch"
    return None
