"""Pydantic models of the engine's data: no I/O here."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal, NewType

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cims.errors import InputError

VulnId = NewType("VulnId", str)
Digest = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]

KNOWN_TOOLS: tuple[str, ...] = (
    "twistlock",
    "aqua",
    "va",
    "trivy",
    "grype",
    "clair",
    "anchore",
    "snyk",
)


class Severity(StrEnum):
    """Severity, ordered by :attr:`rank` (UNKNOWN lowest)."""

    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    NEGLIGIBLE = "NEGLIGIBLE"
    UNKNOWN = "UNKNOWN"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def parse(cls, word: object, *, where: str = "") -> Severity:
        """Map a scanner's severity word to ours; an unknown word is an :class:`InputError`."""
        if word is None:
            return cls.UNKNOWN
        if isinstance(word, int) and not isinstance(word, bool) and 0 <= word <= 4:
            # Trivy's VendorSeverity numbers: 0 unknown, 1 low, 2 medium, 3 high, 4 critical.
            return _TRIVY_NUMBERS[word]
        if isinstance(word, str):
            key = word.strip().lower()
            if key in _WORDS:
                return _WORDS[key]
        at = f" in {where}" if where else ""
        raise InputError(
            f"unknown severity {word!r}{at}: expected one of "
            "critical, high, medium, low, negligible, unknown (or a scanner synonym such as "
            "important, moderate, unimportant, info)"
        )


_RANK = {
    Severity.UNKNOWN: 0,
    Severity.NEGLIGIBLE: 1,
    Severity.LOW: 2,
    Severity.MEDIUM: 3,
    Severity.HIGH: 4,
    Severity.CRITICAL: 5,
}
_TRIVY_NUMBERS = (Severity.UNKNOWN, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)
_WORDS = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "important": Severity.HIGH,  # Red Hat
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,  # Red Hat, GHSA, Twistlock
    "low": Severity.LOW,
    "negligible": Severity.NEGLIGIBLE,
    "unimportant": Severity.NEGLIGIBLE,  # Debian security tracker
    "info": Severity.NEGLIGIBLE,
    "informational": Severity.NEGLIGIBLE,
    "none": Severity.NEGLIGIBLE,  # CVSS "None" rating
    "unknown": Severity.UNKNOWN,
    "not yet assigned": Severity.UNKNOWN,  # Debian
    "untriaged": Severity.UNKNOWN,
    "": Severity.UNKNOWN,
}


class Cvss(BaseModel):
    """One CVSS rating as a source published it."""

    model_config = ConfigDict(frozen=True)

    source: str
    version: str  # "2.0", "3.0", "3.1", "4.0" or "" when the tool does not say
    vector: str | None = None
    score: float | None = None


class Finding(BaseModel):
    """One vulnerability in one package, as one tool reported it (normalized, nothing dropped)."""

    model_config = ConfigDict(frozen=True)

    tool: str
    vuln_id: str
    aliases: tuple[str, ...] = ()
    package_name: str
    package_type: str = "unknown"  # ecosystem: deb, rpm, apk, maven, npm, pypi, golang, ...
    purl: str | None = None
    source_name: str | None = None  # distro source package, when the report gives it
    source_version: str | None = None
    binary_names: tuple[str, ...] = ()  # binaries of a source package, when the report lists them
    installed_version: str = ""
    fixed_versions: tuple[str, ...] = ()
    severity: Severity = Severity.UNKNOWN
    severity_source: str | None = None  # who rated it: "debian", "nvd", "ghsa", "aqua", ...
    vendor_severities: dict[str, Severity] = Field(default_factory=dict)
    cvss: tuple[Cvss, ...] = ()
    layer_digest: str | None = None
    path: str | None = None
    title: str | None = None
    description: str | None = None
    links: tuple[str, ...] = ()
    published: str | None = None
    modified: str | None = None
    raw_index: int = 0  # position of the record in the report, so the raw record can be found


ToolStatus = Literal["ok", "failed", "timed-out", "not-applicable"]


class ToolRun(BaseModel):
    """One run of one tool (or one imported report of it)."""

    model_config = ConfigDict(frozen=True)

    tool: str
    tool_version: str | None = None
    report_format: str | None = None
    status: ToolStatus = "ok"
    message: str = ""
    duration_s: float | None = None
    report_sha256: str | None = None
    source: str | None = None  # file name or URL the report came from (never credentials)


class ParsedReport(BaseModel):
    """What a parser read from one report file: the run, the image it names, the findings."""

    tool: str
    tool_version: str | None = None
    report_format: str
    image_name: str | None = None
    manifest_digests: tuple[str, ...] = ()  # registry digests the report names (sha256:...)
    image_id: str | None = None  # config digest, when the report gives it
    os: str | None = None
    findings: list[Finding] = Field(default_factory=list)
    raw_records: list[dict[str, Any]] = Field(default_factory=list)  # each finding's source record
    skipped: list[str] = Field(default_factory=list)  # why records were not findings


# --- image references -------------------------------------------------------------------------

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_HOST_RE = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]+)?$"
)
DOCKER_HUB = "docker.io"


def check_digest(digest: str, *, what: str = "digest") -> str:
    """Return ``digest`` if it is ``sha256:`` and 64 lowercase hex digits, else raise."""
    if _DIGEST_RE.match(digest):
        return digest
    if digest.lower().startswith("sha256:") and _DIGEST_RE.match(digest.lower()):
        return digest.lower()
    if ":" not in digest:
        hint = "it lacks the 'sha256:' prefix"
    elif not digest.startswith("sha256:"):
        hint = f"algorithm {digest.split(':', 1)[0]!r} is not supported, only sha256"
    else:
        hint = f"expected 64 hex digits after 'sha256:', got {len(digest) - 7} characters"
    raise InputError(f"malformed {what}: {hint} (format: sha256:<64 hex digits>)")


class ImageRef(BaseModel):
    """A fully qualified image reference: registry/repository[:tag][@sha256:digest]."""

    model_config = ConfigDict(frozen=True)

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """registry/repository, no tag or digest."""
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def with_digest(self, digest: str) -> ImageRef:
        return self.model_copy(update={"digest": check_digest(digest)})

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse ``text``; Docker Hub short names become ``docker.io/library/NAME``."""
        ref = text.strip()
        if not ref:
            raise InputError("empty image reference: give NAME[:TAG][@sha256:DIGEST]")
        if any(c.isspace() for c in ref):
            raise InputError(f"malformed image reference {text!r}: it contains white space")
        digest: str | None = None
        if "@" in ref:
            ref, _, raw_digest = ref.partition("@")
            digest = check_digest(raw_digest, what=f"digest in image reference {text!r}")
        if "://" in ref:
            raise InputError(
                f"malformed image reference {text!r}: drop the URL scheme, e.g. icr.io/ns/app:1"
            )
        parts = ref.split("/")
        registry = DOCKER_HUB
        if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
            registry = parts.pop(0)
            if not _HOST_RE.match(registry):
                raise InputError(
                    f"malformed registry host {registry!r} in image reference {text!r}"
                )
            registry = registry.lower()
        if registry in ("index.docker.io", "registry-1.docker.io"):
            registry = DOCKER_HUB
        tag: str | None = None
        last = parts[-1]
        if ":" in last:
            last, _, tag = last.partition(":")
            if not _TAG_RE.match(tag):
                raise InputError(
                    f"malformed tag {tag!r} in image reference {text!r}: "
                    "use letters, digits, '_', '.', '-' (at most 128, not starting with . or -)"
                )
            parts[-1] = last
        for comp in parts:
            if not comp:
                raise InputError(f"malformed image reference {text!r}: empty path component")
            if comp != comp.lower():
                raise InputError(
                    f"malformed image reference {text!r}: repository {comp!r} must be lowercase"
                )
            if not _COMPONENT_RE.match(comp):
                raise InputError(
                    f"malformed image reference {text!r}: path component {comp!r} may hold only "
                    "lowercase letters, digits and single separators (. _ __ -)"
                )
        if registry == DOCKER_HUB and len(parts) == 1:
            parts.insert(0, "library")
        repository = "/".join(parts)
        if len(registry) + 1 + len(repository) > 255:
            raise InputError(f"malformed image reference {text!r}: name longer than 255 characters")
        return cls(registry=registry, repository=repository, tag=tag, digest=digest)


# --- vulnerability identifiers ----------------------------------------------------------------

_CVE_RE = re.compile(r"^CVE-\d{4}-\d{4,}$", re.IGNORECASE)
_GHSA_RE = re.compile(r"^GHSA(-[23456789cfghjmpqrvwx]{4}){3}$", re.IGNORECASE)


def normalize_vuln_id(raw: str) -> str:
    """Canonical spelling of an advisory id: CVE upper case, GHSA as GitHub writes it."""
    vid = raw.strip()
    if _CVE_RE.match(vid):
        return vid.upper()
    if _GHSA_RE.match(vid):
        return "GHSA" + vid[4:].lower()
    return vid


def is_cve(vid: str) -> bool:
    return bool(_CVE_RE.match(vid))
