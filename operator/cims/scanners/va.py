"""IBM Cloud Container Registry Vulnerability Advisor v4 image reports.

``GET https://<region>.icr.io/va/api/v4/report/image/<name>`` answers with the ``ScanReport``
model of IBM's published API (its Go/Python/Java SDKs): ``vulnerabilities[]`` each with a
``cve_id`` and ``security_notices[]`` (DSA, USN, RHSA ... ids) that list the
``vulnerable_packages``. VA v4 gives no severity: CIMS rates VA findings with a configurable
default (HIGH, as IBM's pipelines do) and marks it as a default so correlation prefers a real
rating from another tool.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from cims import oci
from cims.errors import InputError, ToolError
from cims.model import Finding, ImageRef, ParsedReport, Severity, normalize_vuln_id
from cims.scanners import http
from cims.scanners.interface import (
    Rec,
    ReportParser,
    ScanTarget,
    ecosystem,
    need_setting,
    setting,
)

DEFAULT_SEVERITY_ENV = "CIMS_VA_DEFAULT_SEVERITY"
SEVERITY_SOURCE = "va-default"


def default_severity() -> Severity:
    return Severity.parse(os.environ.get(DEFAULT_SEVERITY_ENV, "HIGH"), where=DEFAULT_SEVERITY_ENV)


def detect(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and "vulnerabilities" in doc
        and ("configuration_issues" in doc or "os_distribution" in doc)
    )


def parse(doc: Any) -> ParsedReport:
    top = Rec(doc, "va report")
    if not isinstance(top.get("vulnerabilities"), list):
        raise InputError("va report: missing the 'vulnerabilities' list")
    report = ParsedReport(tool="va", report_format="va-v4-json")
    dist = top.obj("os_distribution")
    family = dist.text("distribution_id") if dist else None
    if dist:
        report.os = " ".join(x for x in (family, dist.text("version_id")) if x) or None
    status = top.text("status")
    if status and status.upper() == "UNSUPPORTED":
        report.skipped.append("va report: status UNSUPPORTED, VA cannot scan this image's OS")
    issues = top.count("configuration_issues")
    if issues:
        report.skipped.append(f"va report: {issues} configuration issues (not CVEs)")
    sev = default_severity()
    for v in top.objs("vulnerabilities"):
        cve = normalize_vuln_id(v.need("cve_id"))
        for notice in v.objs("security_notices"):
            notice_id = notice.text("notice_id")
            aliases = (normalize_vuln_id(notice_id),) if notice_id and notice_id != cve else ()
            for pkg in notice.objs("vulnerable_packages"):
                fix = pkg.text("fix_version")
                report.findings.append(
                    Finding(
                        tool="va",
                        vuln_id=cve,
                        aliases=aliases,
                        package_name=pkg.need("package_name"),
                        package_type=ecosystem("os", os_family=family),
                        installed_version=pkg.text("installed_version") or "",
                        fixed_versions=(fix,) if fix else (),
                        severity=sev,
                        severity_source=SEVERITY_SOURCE,
                        title=notice.text("summary") or v.text("summary"),
                        description=pkg.text("description") or notice.text("notice"),
                        raw_index=len(report.raw_records),
                    )
                )
                report.raw_records.append(
                    Rec(
                        {"cve_id": cve, "notice": notice.data, "package": pkg.data}, pkg.where
                    ).original()
                )
    return report


PARSER = ReportParser(tool="va", report_format="va-v4-json", detect=detect, parse=parse)


# --- fetching a report from the VA API ----------------------------------------------------------

_ICR = re.compile(r"^(?:[a-z0-9-]+\.)*icr\.io$|^registry(?:\.[a-z0-9-]+)?\.bluemix\.net$")
IAM_URL = "https://iam.cloud.ibm.com"
_PENDING = frozenset({"INCOMPLETE", "UNSCANNED", "SCANNING", "QUEUED"})


def applies(image: ImageRef) -> bool:
    """VA scans images in IBM Cloud Container Registry domains only."""
    host = image.registry.split(":", 1)[0]
    return bool(_ICR.match(host))


@dataclass
class VaClient:
    """The VA v4 REST flow: API key -> IAM token, poll the image status, read the report."""

    env: Mapping[str, str]
    deadline: float  # time.monotonic() by which the report must be in
    sleep: Callable[[float], None] = time.sleep
    secrets: list[str] = field(default_factory=list)

    def fetch(self, target: ScanTarget) -> bytes:
        image = target.image
        apikey = need_setting(self.env, "CIMS_VA_APIKEY", "va")
        account = need_setting(self.env, "CIMS_VA_ACCOUNT", "va")
        self.secrets.append(apikey)
        base = (setting(self.env, "CIMS_VA_URL") or f"https://{image.registry}").rstrip("/")
        token = self._token(apikey)
        self.secrets.append(token)
        headers = {"Authorization": f"Bearer {token}", "Account": account}
        name = quote(self._name(target), safe="")
        delay = 1.0
        while True:
            status, body = self._get(f"{base}/va/api/v4/report/image/status/{name}", headers)
            state = _status_word(status, body)
            if state not in _PENDING and status != 404:
                break
            if time.monotonic() + delay > self.deadline:
                raise TimeoutError(
                    f"va: the image is still {state or 'not scanned'} at the deadline"
                )
            self.sleep(delay)
            delay = min(delay * 2, 30.0)
        status, body = self._get(f"{base}/va/api/v4/report/image/{name}", headers)
        if status != 200:
            raise ToolError(f"va: report request answered HTTP {status}")
        return body

    def _name(self, target: ScanTarget) -> str:
        """VA reports tagged images: registry/namespace/repo:tag (CIMS_VA_TAG maps a digest)."""
        image = target.image
        tag = image.tag or setting(self.env, "CIMS_VA_TAG")
        if not tag:
            # ICR accepts the IAM API key as registry credentials ("iamapikey").
            apikey = need_setting(self.env, "CIMS_VA_APIKEY", "va")
            tag = oci.tag_of(image, self.env, ("iamapikey", apikey))
        if not tag:
            raise InputError(
                f"va: no tag of {image.name} points at {image.digest} and VA reports tagged "
                "images only; tag the image or set CIMS_VA_TAG"
            )
        return f"{image.registry}/{image.repository}:{tag}"

    def _token(self, apikey: str) -> str:
        iam = (setting(self.env, "CIMS_VA_IAM_URL") or IAM_URL).rstrip("/")
        form = urlencode(
            {"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": apikey}
        ).encode()
        status, body = self._request(
            f"{iam}/identity/token",
            form,
            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
        if status in (400, 401, 403):
            raise ToolError(f"va: IAM refused the API key (HTTP {status}); check CIMS_VA_APIKEY")
        if status != 200:
            raise ToolError(f"va: IAM token request answered HTTP {status}")
        try:
            token = json.loads(body)["access_token"]
        except (ValueError, KeyError, TypeError):
            raise ToolError("va: IAM answered without an access_token") from None
        if not isinstance(token, str) or not token:
            raise ToolError("va: IAM answered without an access_token")
        return token

    def _get(self, url: str, headers: dict[str, str]) -> tuple[int, bytes]:
        status, body = self._request(url, None, {**headers, "Accept": "application/json"})
        if status in (401, 403):
            raise ToolError(f"va: HTTP {status} from the VA API; check CIMS_VA_ACCOUNT and access")
        if status not in (200, 404):
            raise ToolError(f"va: HTTP {status} from {url.split('?', 1)[0]}")
        return status, body

    def _request(self, url: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        return http.request("va", url, deadline=self.deadline, data=data, headers=headers)


def _status_word(status: int, body: bytes) -> str | None:
    if status == 404:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        raise ToolError(
            "va: the status endpoint answered with something that is not JSON"
        ) from None
    return str(doc.get("status", "")).upper() if isinstance(doc, dict) else None
