"""The scan runtime with stand-in scanners that replay real reports and check their arguments."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cims.errors import InputError
from cims.model import ImageRef
from cims.runtime.scan import parse_tools, scan_image

from tests.runtime.conftest import Fakes

DIGEST = "sha256:" + "ab" * 32
IMAGE = ImageRef.parse(f"registry.internal:5000/team/app:1.0@{DIGEST}")
SECRETS = ("tw-s3cret-pa55", "aq-s3cret-pa55")


def _by_tool(outcomes: list) -> dict:  # type: ignore[type-arg]
    return {o.run.tool: o for o in outcomes}


def _no_secret_in(outcomes: list) -> None:  # type: ignore[type-arg]
    for o in outcomes:
        for secret in SECRETS:
            assert secret not in o.run.message
            assert secret not in o.run.model_dump_json()


def test_four_tools_in_parallel_with_the_arguments_the_real_tools_need(fakes: Fakes) -> None:
    outcomes = scan_image(IMAGE, ["twistlock", "aqua", "trivy", "grype"], env=fakes.env)
    got = _by_tool(outcomes)
    assert {t: o.run.status for t, o in got.items()} == dict.fromkeys(
        ("twistlock", "aqua", "trivy", "grype"), "ok"
    )
    assert len(got["twistlock"].report.findings) == 5
    assert got["aqua"].report.tool == "aqua"
    calls = {c["tool"]: c["argv"] for c in fakes.calls()}
    by_digest = f"registry.internal:5000/team/app@{DIGEST}"
    tw = calls["twistcli"]
    assert tw[:4] == ["images", "scan", "--address", "https://console.internal:8083"]
    assert tw[-1] == by_digest  # twistcli ignores options after the image
    assert "--details" in tw
    assert calls["scannercli"][-1] == by_digest
    assert "--local" in calls["scannercli"]
    assert calls["trivy"][:3] == ["image", "--format", "json"]
    assert calls["trivy"][-1] == by_digest
    assert calls["grype"][0] == f"registry:{by_digest}"
    _no_secret_in(outcomes)


def test_one_failing_tool_does_not_stop_the_others(fakes: Fakes) -> None:
    fakes.env["FAKE_TWISTCLI_MODE"] = "crash"
    fakes.env["FAKE_GRYPE_MODE"] = "garbage"
    fakes.env["FAKE_TRIVY_MODE"] = "truncated"
    got = _by_tool(scan_image(IMAGE, ["twistlock", "aqua", "trivy", "grype"], env=fakes.env))
    assert got["aqua"].run.status == "ok"
    assert got["twistlock"].run.status == "failed"
    assert "panic" in got["twistlock"].run.message
    assert got["grype"].run.status == "failed"
    assert "not valid JSON" in got["grype"].run.message
    assert got["trivy"].run.status == "failed"
    assert "truncated" in got["trivy"].run.message
    _no_secret_in(list(got.values()))


def test_the_crashing_tool_echoed_the_password_and_cims_hid_it(fakes: Fakes) -> None:
    fakes.env["FAKE_TWISTCLI_MODE"] = "crash"
    (o,) = scan_image(IMAGE, ["twistlock"], env=fakes.env)
    assert "--password ***" in o.run.message
    assert "tw-s3cret-pa55" not in o.run.message


def test_a_slow_tool_times_out_alone(fakes: Fakes) -> None:
    fakes.env["FAKE_GRYPE_MODE"] = "slow"
    fakes.env["FAKE_SCANNER_SLEEP"] = "60"
    start = time.monotonic()
    got = _by_tool(scan_image(IMAGE, ["grype", "trivy"], env=fakes.env, timeout_s=2))
    assert time.monotonic() - start < 15
    assert got["grype"].run.status == "timed-out"
    assert "after 2 s" in got["grype"].run.message
    assert got["trivy"].run.status == "ok"


def test_policy_exit_with_a_report_is_a_scan_with_a_note(fakes: Fakes) -> None:
    fakes.env["FAKE_SCANNER_MODE"] = "policy"
    got = _by_tool(scan_image(IMAGE, ["twistlock", "aqua"], env=fakes.env))
    assert got["twistlock"].run.status == "ok"
    assert "fails twistlock's policy (exit 1)" in got["twistlock"].run.message
    assert "fails aqua's policy (exit 4)" in got["aqua"].run.message


def test_exit_1_without_a_report_is_a_failure(fakes: Fakes) -> None:
    fakes.env["FAKE_SCANNER_MODE"] = "nofile"
    (o,) = scan_image(IMAGE, ["twistlock"], env=fakes.env)
    assert o.run.status == "failed"
    assert "wrote no report (exit 1: twistcli: failed to authenticate" in o.run.message


def test_va_is_not_applicable_outside_icr(fakes: Fakes) -> None:
    (o,) = scan_image(IMAGE, ["va"], env=fakes.env)
    assert o.run.status == "not-applicable"
    assert "registry.internal:5000 is not one" in o.run.message


def test_missing_binary_and_missing_credentials_fail_that_tool_only(fakes: Fakes) -> None:
    fakes.env["CIMS_TRIVY"] = str(fakes.bindir / "no-such-trivy")
    del fakes.env["CIMS_AQUA_PASSWORD"]
    got = _by_tool(scan_image(IMAGE, ["trivy", "aqua", "grype"], env=fakes.env))
    assert "no-such-trivy not found" in got["trivy"].run.message
    assert "set CIMS_AQUA_PASSWORD (or CIMS_AQUA_PASSWORD_FILE)" in got["aqua"].run.message
    assert got["grype"].run.status == "ok"


def test_credentials_from_mounted_files(fakes: Fakes, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-a-secret-volume\n")
    del fakes.env["CIMS_TWISTLOCK_PASSWORD"]
    fakes.env["CIMS_TWISTLOCK_PASSWORD_FILE"] = str(secret)
    (o,) = scan_image(IMAGE, ["twistlock"], env=fakes.env)
    assert o.run.status == "ok"
    (call,) = fakes.calls()
    assert call["argv"][call["argv"].index("--password") + 1] == "from-a-secret-volume"


def test_aqua_trivy_server_token_goes_by_environment(fakes: Fakes) -> None:
    fakes.env["CIMS_AQUA_TRIVY_SERVER"] = "https://aqua-trivy.internal:4954"
    fakes.env["CIMS_AQUA_TRIVY_TOKEN"] = "aqua-trivy-token-123"
    (o,) = scan_image(IMAGE, ["aqua"], env=fakes.env)
    assert o.run.status == "ok"
    assert o.report.tool == "aqua"
    assert o.report.report_format == "trivy-json"
    (call,) = fakes.calls()
    assert call["tool"] == "trivy"
    assert call["argv"][call["argv"].index("--server") + 1] == "https://aqua-trivy.internal:4954"
    assert "aqua-trivy-token-123" not in " ".join(call["argv"])
    assert call["env"]["TRIVY_TOKEN"] == "aqua-trivy-token-123"


def test_offline_databases_and_sbom_mode(fakes: Fakes, tmp_path: Path) -> None:
    sbom = tmp_path / "sbom.json"
    sbom.write_text("{}")
    fakes.env.update(
        {
            "CIMS_TRIVY_OFFLINE": "true",
            "CIMS_TRIVY_CACHE_DIR": "/db/trivy",
            "CIMS_GRYPE_OFFLINE": "1",
            "CIMS_GRYPE_DB_DIR": "/db/grype",
        }
    )
    scan_image(IMAGE, ["trivy", "grype"], env=fakes.env, sbom=sbom)
    calls = {c["tool"]: c for c in fakes.calls()}
    trivy = calls["trivy"]["argv"]
    assert trivy[0] == "sbom"
    assert trivy[-1] == str(sbom)
    assert {"--skip-db-update", "--offline-scan"} <= set(trivy)
    assert trivy[trivy.index("--cache-dir") + 1] == "/db/trivy"
    assert calls["grype"]["argv"][0] == f"sbom:{sbom}"
    assert calls["grype"]["env"]["GRYPE_DB_AUTO_UPDATE"] == "false"
    assert calls["grype"]["env"]["GRYPE_DB_CACHE_DIR"] == "/db/grype"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "twistlock,snyk",
            "unknown tool 'snyk': valid tools are twistlock, aqua, va, trivy, grype",
        ),
        ("va,va", "named twice"),
        (" , ", "no tools given"),
    ],
)
def test_tool_lists_are_checked(text: str, says: str) -> None:
    with pytest.raises(InputError, match=says):
        parse_tools(text)


def test_default_tools_are_the_pipeline_default() -> None:
    from cims.runtime.scan import DEFAULT_TOOLS

    assert DEFAULT_TOOLS == ("twistlock", "va")
    assert parse_tools(" Twistlock , VA ") == ("twistlock", "va")


def test_a_report_of_another_image_fails_that_tool_only(fakes: Fakes) -> None:
    fakes.env["FAKE_SCANNERCLI_MODE"] = "otherimage"
    got = _by_tool(scan_image(IMAGE, ["aqua", "twistlock"], env=fakes.env))
    assert got["aqua"].run.status == "failed"
    assert f"not the scanned {DIGEST}" in got["aqua"].run.message
    assert got["twistlock"].run.status == "ok"
