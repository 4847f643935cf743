"""Prisma Cloud Compute (Twistlock) console API scan results: the image objects of
``GET /api/v1/images`` (and ``/registry``), one object or a list, and the CI scans of
``GET /api/v1/scans`` (``entityInfo`` holds the image).

The same tool as twistcli (``twistlock``), read where a console already scanned the image.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from cims.errors import InputError, ToolError
from cims.model import Finding, ParsedReport, normalize_vuln_id
from cims.scanners import http
from cims.scanners.interface import (
    Rec,
    ReportParser,
    ScanTarget,
    ecosystem,
    make_cvss,
    need_setting,
    setting,
)
from cims.scanners.twistlock import fixed_in, os_family, package_fields

_IMAGE_KEYS = ("vulnerabilitiesCount", "scanVersion", "repoTag", "osDistro")


def _image_like(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    if isinstance(doc.get("entityInfo"), dict):
        doc = doc["entityInfo"]
    return "vulnerabilities" in doc and sum(k in doc for k in _IMAGE_KEYS) >= 2


def detect(doc: Any) -> bool:
    if isinstance(doc, list):
        return bool(doc) and _image_like(doc[0])
    return _image_like(doc)


def parse(doc: Any) -> ParsedReport:
    images = [
        Rec(item, f"prisma api[{i}]")
        for i, item in enumerate(doc if isinstance(doc, list) else [doc])
    ]
    images = [img.obj("entityInfo") or img for img in images]
    ids = {img.text("_id") or img.text("id") for img in images}
    if len(ids) > 1:
        raise InputError(
            f"prisma api: the answer holds {len(ids)} images; CIMS reads one image per report "
            "(query the console by image, or pick one with jq '.[0]')"
        )
    report = ParsedReport(tool="twistlock", report_format="prisma-compute-api")
    _parse_image(images[0], report)
    return report


def _parse_image(img: Rec, report: ParsedReport) -> None:
    report.tool_version = img.text("scanVersion")
    report.image_id = img.text("id") or img.text("_id")
    report.os = img.text("distro")
    tag = img.obj("repoTag")
    if tag and tag.text("repo"):
        registry = tag.text("registry")
        name = f"{registry}/{tag.need('repo')}" if registry else tag.need("repo")
        report.image_name = f"{name}:{tag.text('tag')}" if tag.text("tag") else name
    report.manifest_digests = tuple(
        d.rpartition("@")[2] for d in img.texts("repoDigests") if "@sha256:" in d
    )
    kinds: dict[str, str] = {}
    for group in img.objs("packages"):
        kind = group.text("pkgsType") or ""
        for pkg in group.objs("pkgs"):
            pkg_name = pkg.text("name")
            if pkg_name:
                kinds.setdefault(pkg_name, "os" if kind == "package" else kind)
    compliance = img.count("complianceIssues")
    if compliance:
        report.skipped.append(f"{img.where}: {compliance} compliance issues (not CVEs)")
    family = os_family(img.text("osDistro") or img.text("distro"))
    for vuln in img.objs("vulnerabilities"):
        report.findings.append(_finding(vuln, kinds, family, len(report.raw_records)))
        report.raw_records.append(vuln.original())


def _finding(v: Rec, kinds: dict[str, str], family: str | None, index: int) -> Finding:
    name = v.need("packageName")
    binaries = v.texts("binaryPkgs")
    kind = kinds.get(name) or next((kinds[b] for b in binaries if b in kinds), None)
    pkg_type = ecosystem(kind or ("os" if binaries else None), os_family=family)
    cvss = make_cvss("twistlock", v.text("vecStr"), v.number("cvss"))
    return Finding(
        tool="twistlock",
        vuln_id=normalize_vuln_id(v.need("cve")),
        **package_fields(name, binaries, pkg_type, family),
        installed_version=v.text("packageVersion") or "",
        fixed_versions=fixed_in(v.text("status")),
        severity=v.severity("severity"),
        cvss=(cvss,) if cvss else (),
        description=v.text("description"),
        links=v.texts("link"),
        published=_epoch(v.number("published")),
        modified=v.text("discovered"),
        raw_index=index,
    )


def _epoch(seconds: float | None) -> str | None:
    """The console writes dates as Unix seconds (0: none)."""
    if not seconds or seconds <= 0:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


PARSER = ReportParser(
    tool="twistlock", report_format="prisma-compute-api", detect=detect, parse=parse
)


# --- reading the console -----------------------------------------------------------------------

ENDPOINTS = ("images", "registry")  # deployed images, then the console's registry scans


def wants_console(env: Mapping[str, str]) -> bool:
    """CIMS_TWISTLOCK_SOURCE=console reads the console's results instead of running twistcli."""
    source = (setting(env, "CIMS_TWISTLOCK_SOURCE") or "twistcli").strip().lower()
    if source not in ("twistcli", "console"):
        raise InputError(
            f"CIMS_TWISTLOCK_SOURCE={source!r}: use twistcli (scan with twistcli) or console "
            "(read the scan a Prisma Cloud console already made)"
        )
    return source == "console"


@dataclass
class ConsoleClient:
    """Finds the console's scan of one image digest: ``GET /api/v1/images`` then
    ``/api/v1/registry``, searched by repository, matched by the digest in ``repoDigests``."""

    env: Mapping[str, str]
    deadline: float

    @property
    def secrets(self) -> list[str]:
        return [
            v
            for v in (setting(self.env, f"CIMS_TWISTLOCK_{k}") for k in ("TOKEN", "PASSWORD"))
            if v
        ]

    def _headers(self) -> dict[str, str]:
        token = setting(self.env, "CIMS_TWISTLOCK_TOKEN")
        if token:
            return {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        user = need_setting(self.env, "CIMS_TWISTLOCK_USER", "twistlock")
        password = need_setting(self.env, "CIMS_TWISTLOCK_PASSWORD", "twistlock")
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {basic}", "Accept": "application/json"}

    def fetch(self, target: ScanTarget) -> bytes:
        """The console's image object for the target's digest, as JSON bytes."""
        address = need_setting(self.env, "CIMS_TWISTLOCK_ADDRESS", "twistlock").rstrip("/")
        api = (setting(self.env, "CIMS_TWISTLOCK_API") or "/api/v1").rstrip("/")
        image = target.image
        query = urlencode({"search": image.repository, "limit": 50})
        for endpoint in ENDPOINTS:
            status, body = http.request(
                "twistlock",
                f"{address}{api}/{endpoint}?{query}",
                deadline=self.deadline,
                headers=self._headers(),
            )
            if status in (401, 403):
                raise ToolError(
                    f"twistlock: the console refused the credentials (HTTP {status}); check "
                    "CIMS_TWISTLOCK_TOKEN or CIMS_TWISTLOCK_USER and CIMS_TWISTLOCK_PASSWORD"
                )
            if status != 200:
                raise ToolError(f"twistlock: HTTP {status} from the console's /{endpoint} API")
            try:
                found = json.loads(body)
            except ValueError:
                raise ToolError(
                    f"twistlock: the console's /{endpoint} API answered with something that "
                    "is not JSON"
                ) from None
            for item in found if isinstance(found, list) else []:
                if _is_digest(item, str(image.digest)):
                    return json.dumps(item).encode()
        raise ToolError(
            f"twistlock: the console at {http.host_of(address)} has no scan of {image.name}@"
            f"{image.digest}; let its registry scanning cover the image, or use "
            "CIMS_TWISTLOCK_SOURCE=twistcli"
        )


def _is_digest(item: Any, digest: str) -> bool:
    if not isinstance(item, dict):
        return False
    info = item.get("entityInfo")
    repo_digests = (info if isinstance(info, dict) else item).get("repoDigests") or []
    return any(isinstance(d, str) and d.endswith(f"@{digest}") for d in repo_digests)
