"""The adapter interface: what every report parser offers, and the helpers they share."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cims.errors import InputError
from cims.model import Cvss, ImageRef, ParsedReport, Severity


@dataclass(frozen=True)
class ReportParser:
    """How to recognise and read one report format of one tool.

    ``tool`` is empty for formats several tools emit (SARIF, CycloneDX): the parser names the tool
    from the document itself.
    """

    tool: str
    report_format: str
    detect: Callable[[Any], bool]
    parse: Callable[[Any], ParsedReport]


@dataclass(frozen=True)
class ScanTarget:
    """What a scanner is asked to scan: an image by digest, a scratch folder, maybe an SBOM."""

    image: ImageRef  # has a digest
    workdir: Path
    sbom: Path | None = None  # a syft JSON SBOM to read instead of pulling the image

    @property
    def by_digest(self) -> str:
        """registry/repository@sha256:... : what every tool is pointed at."""
        return f"{self.image.name}@{self.image.digest}"


@dataclass(frozen=True)
class Invocation:
    """How to run a command-line scanner once: argv, extra environment, stdin, output file.

    ``secrets`` are the values that must never appear in a log line or message.
    """

    argv: tuple[str, ...]
    output: Path
    env: Mapping[str, str] = field(default_factory=dict)
    stdin: str | None = None
    secrets: tuple[str, ...] = ()
    ok_exit_codes: frozenset[int] = frozenset({0})
    policy_exit_codes: frozenset[int] = frozenset()  # "scanned, but policy says no"


def setting(env: Mapping[str, str], name: str) -> str | None:
    """A setting from ``NAME``, or from the file ``NAME_FILE`` names (a mounted Secret)."""
    value = env.get(name)
    if value:
        return value
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip() or None
        except OSError as err:
            raise InputError(f"{name}_FILE={path}: cannot read it ({err.strerror})") from None
    return None


def need_setting(env: Mapping[str, str], name: str, tool: str) -> str:
    value = setting(env, name)
    if value is None:
        raise InputError(f"{tool}: set {name} (or {name}_FILE) to use it")
    return value


def credential_args(env: Mapping[str, str], prefix: str, tool: str) -> tuple[list[str], list[str]]:
    """``--token T`` or ``--user U --password P`` from ``<prefix>_TOKEN`` / ``_USER`` /
    ``_PASSWORD`` (twistcli and scannercli take them only as options), and the secrets in it."""
    token = setting(env, f"{prefix}_TOKEN")
    if token:
        return ["--token", token], [token]
    password = need_setting(env, f"{prefix}_PASSWORD", tool)
    user = need_setting(env, f"{prefix}_USER", tool)
    return ["--user", user, "--password", password], [password]


class Rec:
    """A JSON object from a foreign report, read defensively: every error names where it is.

    The location ("trivy report.Results[0].Vulnerabilities[3]") is built only when an error
    needs it: a report holds hundreds of thousands of records and most are fine.
    """

    __slots__ = ("_key", "_parent", "_where", "data")

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise InputError(f"{where}: expected a JSON object, got {_kind(data)}")
        self.data: dict[str, Any] = data
        self._where: str | None = where
        self._parent: Rec | None = None
        self._key: str = ""

    @classmethod
    def _child(cls, data: object, parent: Rec, key: str) -> Rec:
        if not isinstance(data, dict):
            raise InputError(f"{parent.where}{key}: expected a JSON object, got {_kind(data)}")
        rec = cls.__new__(cls)
        rec.data = data
        rec._where = None
        rec._parent = parent
        rec._key = key
        return rec

    @property
    def where(self) -> str:
        if self._where is None:
            assert self._parent is not None
            self._where = f"{self._parent.where}{self._key}"
        return self._where

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def text(self, key: str) -> str | None:
        """A string field; numbers are accepted as text, empty strings are None."""
        value = self.data.get(key)
        if type(value) is str:  # the common case first: most fields are text
            return value.strip() or None
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InputError(f"{self.where}.{key}: expected text, got {_kind(value)}")
        out = str(value).strip()
        return out or None

    def need(self, key: str) -> str:
        value = self.text(key)
        if value is None:
            raise InputError(f"{self.where}: missing required field {key!r}")
        return value

    def number(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise InputError(f"{self.where}.{key}: expected a number, got a boolean")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise InputError(f"{self.where}.{key}: expected a number, got {value!r}") from None

    def texts(self, key: str) -> tuple[str, ...]:
        """A list of strings (a single string is a list of one); None is empty."""
        value = self.data.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,) if value.strip() else ()
        if not isinstance(value, list):
            raise InputError(f"{self.where}.{key}: expected a list, got {_kind(value)}")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise InputError(f"{self.where}.{key}[{i}]: expected text, got {_kind(item)}")
            if item.strip():
                out.append(item.strip())
        return tuple(out)

    def obj(self, key: str) -> Rec | None:
        value = self.data.get(key)
        if value is None:
            return None
        return Rec._child(value, self, f".{key}")

    def objs(self, key: str) -> Iterator[Rec]:
        """Each object of a list field (None is empty)."""
        value = self.data.get(key)
        if value is None:
            return
        if not isinstance(value, list):
            raise InputError(f"{self.where}.{key}: expected a list, got {_kind(value)}")
        for i, item in enumerate(value):
            yield Rec._child(item, self, f".{key}[{i}]")

    def count(self, key: str) -> int:
        """How many items a list field holds (None is 0)."""
        value = self.data.get(key)
        if value is None:
            return 0
        if not isinstance(value, list):
            raise InputError(f"{self.where}.{key}: expected a list, got {_kind(value)}")
        return len(value)

    def severity(self, key: str) -> Severity:
        """A severity field, mapped to ours; an unknown word names where it is."""
        value = self.data.get(key)
        try:
            return Severity.parse(value)
        except InputError:
            return Severity.parse(value, where=f"{self.where}.{key}")

    def original(self) -> dict[str, Any]:
        """The record as the tool wrote it (serialized only when it is stored)."""
        return self.data


def records(doc: object, where: str) -> Iterator[Rec]:
    """Each object of a top-level JSON list."""
    if not isinstance(doc, list):
        raise InputError(f"{where}: expected a JSON list, got {_kind(doc)}")
    for i, item in enumerate(doc):
        yield Rec(item, f"{where}[{i}]")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "text", bool: "a boolean"}.get(
        type(value), "a number"
    )


def cvss_version(vector: str | None, fallback: str = "") -> str:
    """The CVSS version a vector string declares (``CVSS:3.1/...``), else ``fallback``."""
    if vector and vector.startswith("CVSS:"):
        return vector[5:].split("/", 1)[0]
    if vector and vector.startswith("AV:") and "Au:" in vector:
        return "2.0"
    return fallback


@functools.lru_cache(maxsize=8192)
def make_cvss(
    source: str, vector: str | None, score: float | None, version: str = ""
) -> Cvss | None:
    """A :class:`Cvss`, or None when there is neither a vector nor a usable score.

    Negative scores are "no score" sentinels some tools write (Anchore's -1.0). Cached: a
    report repeats one CVE's ratings for every package it affects, and Cvss is immutable.
    """
    if score is not None and score < 0:
        score = None
    if not vector and score is None:
        return None
    return Cvss(source=source, version=cvss_version(vector, version), vector=vector, score=score)


def split_versions(text: str | None) -> tuple[str, ...]:
    """Fixed versions written as one string ("1.2, 1.3"); "None"/"" mean no fix."""
    if not text or text.strip().lower() in ("none", "n/a", "-"):
        return ()
    return tuple(v.strip() for v in text.split(",") if v.strip())


def severity(word: object, where: str) -> Severity:
    return Severity.parse(word, where=where)


# --- ecosystems -------------------------------------------------------------------------------

OS_FAMILIES = {
    "debian": "deb",
    "ubuntu": "deb",
    "distroless": "deb",
    "alpine": "apk",
    "wolfi": "apk",
    "chainguard": "apk",
    "redhat": "rpm",
    "rhel": "rpm",
    "centos": "rpm",
    "rocky": "rpm",
    "alma": "rpm",
    "almalinux": "rpm",
    "fedora": "rpm",
    "amazon": "rpm",
    "amzn": "rpm",
    "oracle": "rpm",
    "ol": "rpm",
    "photon": "rpm",
    "suse": "rpm",
    "opensuse": "rpm",
    "sles": "rpm",
    "cbl-mariner": "rpm",
    "mariner": "rpm",
    "azurelinux": "rpm",
}

_ECOSYSTEMS = {
    # OS package managers
    "deb": "deb",
    "dpkg": "deb",
    "apk": "apk",
    "rpm": "rpm",
    # language ecosystems, by the words Trivy, Grype, Aqua, Anchore, Snyk and Twistlock use
    "java": "maven",
    "jar": "maven",
    "war": "maven",
    "pom": "maven",
    "gradle": "maven",
    "maven": "maven",
    "java-archive": "maven",
    "jenkins-plugin": "maven",
    "npm": "npm",
    "yarn": "npm",
    "pnpm": "npm",
    "node-pkg": "npm",
    "nodejs": "npm",
    "javascript": "npm",
    "pip": "pypi",
    "pipenv": "pypi",
    "poetry": "pypi",
    "uv": "pypi",
    "python": "pypi",
    "python-pkg": "pypi",
    "pypi": "pypi",
    "gomod": "golang",
    "gobinary": "golang",
    "go-module": "golang",
    "go": "golang",
    "golang": "golang",
    "gem": "gem",
    "gemspec": "gem",
    "bundler": "gem",
    "rubygems": "gem",
    "ruby": "gem",
    "cargo": "cargo",
    "rust-binary": "cargo",
    "rust-crate": "cargo",
    "composer": "composer",
    "php-composer": "composer",
    "nuget": "nuget",
    "dotnet": "nuget",
    "dotnet-core": "nuget",
    "conan": "conan",
    "hex": "hex",
    "pub": "pub",
    "swift": "swift",
    "cocoapods": "cocoapods",
    "binary": "generic",
}


def ecosystem(word: str | None, *, os_family: str | None = None) -> str:
    """Our ecosystem name for a tool's package-type word (``os`` resolves through the distro)."""
    if not word:
        return OS_FAMILIES.get((os_family or "").lower(), "unknown")
    key = word.strip().lower()
    if key in ("os", "os-pkgs", "linux"):
        return OS_FAMILIES.get((os_family or "").lower(), "unknown")
    if key in OS_FAMILIES:
        return OS_FAMILIES[key]
    return _ECOSYSTEMS.get(key, key)
