"""The VA adapter against a loopback stand-in of IAM and the VA v4 API."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cims.errors import InputError
from cims.model import ImageRef, Severity
from cims.runtime.scan import scan_image
from cims.scanners import va
from cims.scanners.interface import ScanTarget

from tests.fakes.registry import local_registry, push_image
from tests.fakes.va_server import TOKEN, Scenario, va_server

DIGEST = "sha256:" + "cd" * 32
IMAGE = ImageRef.parse(f"us.icr.io/team/app:1.4@{DIGEST}")


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {
        "CIMS_VA_APIKEY": "va-api-key-123",
        "CIMS_VA_ACCOUNT": "acct-42",
        "CIMS_VA_IAM_URL": url,
        "CIMS_VA_URL": url,
        "PATH": "/usr/bin:/bin",
    }
    env.update(extra)
    return env


def test_icr_domains() -> None:
    for host in (
        "icr.io",
        "us.icr.io",
        "jp2.icr.io",
        "private.us.icr.io",
        "cp.icr.io",
        "cp.stg.icr.io",
        "registry.ng.bluemix.net",
        "registry.bluemix.net",
    ):
        assert va.applies(ImageRef.parse(f"{host}/ns/app:1")), host
    for host in ("docker.io", "icr.io.evil.com", "ghcr.io", "myicr.io", "127.0.0.1:5000"):
        assert not va.applies(ImageRef.parse(f"{host}/ns/app:1")), host


def test_token_exchange_polling_and_report() -> None:
    scenario = Scenario(pending=[404, "INCOMPLETE", "UNSCANNED"])
    with va_server(scenario) as url:
        (o,) = scan_image(IMAGE, ["va"], env=_env(url))
    assert o.run.status == "ok", o.run.message
    (f,) = o.report.findings
    assert f.tool == "va"
    assert f.severity is Severity.HIGH
    methods = [(m, p) for m, p, _ in scenario.requests]
    assert methods[0] == ("POST", "/identity/token")
    name = "us.icr.io/team/app:1.4"
    assert methods[1:5] == [("GET", f"/va/api/v4/report/image/status/{name}")] * 4
    assert methods[5] == ("GET", f"/va/api/v4/report/image/{name}")
    last_headers = scenario.requests[-1][2]
    assert last_headers["Account"] == "acct-42"
    assert last_headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in o.run.model_dump_json()


def test_bad_api_key_is_a_clear_failure() -> None:
    scenario = Scenario(iam_status=400)
    with va_server(scenario) as url:
        (o,) = scan_image(IMAGE, ["va"], env=_env(url, CIMS_VA_APIKEY="wrong-key-999"))
    assert o.run.status == "failed"
    assert "IAM refused the API key (HTTP 400); check CIMS_VA_APIKEY" in o.run.message
    assert "wrong-key-999" not in o.run.message


def test_wrong_account_is_a_clear_failure() -> None:
    with va_server(Scenario()) as url:
        (o,) = scan_image(IMAGE, ["va"], env=_env(url, CIMS_VA_ACCOUNT="other"))
    assert o.run.status == "failed"
    assert "HTTP 401 from the VA API; check CIMS_VA_ACCOUNT" in o.run.message


def test_never_scanned_image_times_out_with_backoff_bounded_by_the_deadline() -> None:
    scenario = Scenario(pending=[404] * 1000)
    start = time.monotonic()
    with va_server(scenario) as url:
        (o,) = scan_image(IMAGE, ["va"], env=_env(url), timeout_s=4)
    assert time.monotonic() - start < 8
    assert o.run.status == "timed-out"
    assert "not scanned" in o.run.message
    polls = sum(1 for _, p, _ in scenario.requests if "/status/" in p)
    assert 2 <= polls <= 4  # 1 s, 2 s backoff, not a busy loop


def test_slow_report_times_out() -> None:
    with va_server(Scenario(report_delay_s=5)) as url:
        (o,) = scan_image(IMAGE, ["va"], env=_env(url), timeout_s=2)
    assert o.run.status == "timed-out"


def test_truncated_report_fails_that_tool() -> None:
    with va_server(Scenario(truncate=True)) as url:
        (o,) = scan_image(IMAGE, ["va"], env=_env(url))
    assert o.run.status == "failed"
    assert "truncated" in o.run.message


def test_unreachable_va_is_a_clear_failure() -> None:
    env = _env("http://127.0.0.1:9")  # discard port: nothing listens
    (o,) = scan_image(IMAGE, ["va"], env=env)
    assert o.run.status == "failed"
    assert "cannot reach http://127.0.0.1:9" in o.run.message


def test_untagged_image_uses_the_configured_tag() -> None:
    with va_server(Scenario()) as url:
        (o,) = scan_image(
            ImageRef.parse(f"us.icr.io/team/app@{DIGEST}"), ["va"], env=_env(url, CIMS_VA_TAG="1.4")
        )
    assert o.run.status == "ok"


def test_digest_only_image_maps_to_its_tag_through_the_registry(tmp_path: Path) -> None:
    # The tag lookup is the Registry API's; a loopback registry stands in for ICR here.
    with local_registry(tmp_path) as host:
        digest = push_image(host, "team/app", "1.4", marker="va")
        client = va.VaClient(env={"CIMS_VA_APIKEY": "k"}, deadline=time.monotonic() + 10)
        image = ImageRef.parse(f"{host}/team/app@{digest}")
        assert client._name(ScanTarget(image=image, workdir=tmp_path)) == f"{host}/team/app:1.4"
        lost = image.with_digest("sha256:" + "7" * 64)
        with pytest.raises(InputError, match="VA reports tagged images only"):
            client._name(ScanTarget(image=lost, workdir=tmp_path))
