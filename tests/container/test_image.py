"""The CIMS image, built from the Dockerfile, scanning an image in a local registry by digest.

Real parts: Docker Engine, the debootstrap base image (scripts/services), Debian's
docker-registry, syft inside the CIMS image. trivy and grype are stand-ins that replay real
reports (they cannot be downloaded here). Skips with one line where Docker is missing.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from cims.cli.main import main

from tests.conftest import FIXTURES, stand_in_tools

ROOT = Path(__file__).parents[2]
FAKE = ROOT / "tests" / "fakes" / "fake_scanner.py"


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    stand_in_tools(tmp_path / "tools")
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)  # the image's user (uid 10001) writes the DB here
    return tmp_path


ENV = {
    "FAKE_TRIVY_REPORT": "/fixtures/trivy/golden-debian-buster.json",
    "FAKE_GRYPE_REPORT": "/fixtures/grype/dd-vulnerable-image-debian10-allfields.json",
    "FAKE_SCANNER_LOG": "/data/calls.jsonl",
}


def test_image_runs_as_non_root_with_cims_entrypoint(cims_image: str) -> None:
    config = json.loads(_docker("image", "inspect", cims_image).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["cims"]
    assert _docker("run", "--rm", cims_image, "--version").stdout.startswith("cims, version")


def test_scan_by_digest_inside_the_image(
    pushed: tuple[str, str], workspace: Path, cims_image: str
) -> None:
    ref, digest = pushed
    envs = [x for k, v in ENV.items() for x in ("-e", f"{k}={v}")]
    mounts = [
        "-v",
        f"{workspace / 'tools'}:/opt/cims/tools:ro",
        "-v",
        f"{FIXTURES}:/fixtures:ro",
        "-v",
        f"{workspace / 'data'}:/data",
    ]
    proc = _docker(
        "run",
        "--rm",
        "--network",
        "host",
        *envs,
        *mounts,
        cims_image,
        "scan",
        ref,
        "--tools",
        "trivy,grype,va",
        "--sbom-first",
        "--format",
        "json",
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["image"]["digest"] == digest
    runs = {r["tool"]: r["status"] for r in doc["tool_runs"]}
    assert runs == {"trivy": "ok", "grype": "ok", "va": "not-applicable"}
    calls = [json.loads(x) for x in (workspace / "data" / "calls.jsonl").read_text().splitlines()]
    # real syft read the debootstrap image from the registry: Debian's packages are in the SBOM
    assert all(c["sbom_packages"] > 50 for c in calls)
    with sqlite3.connect(workspace / "data" / "cims.db") as conn:
        (images,) = conn.execute(
            "SELECT count(*) FROM images WHERE digest = ?", (digest,)
        ).fetchone()
        (runs_n,) = conn.execute("SELECT count(*) FROM tool_runs").fetchone()
    assert (images, runs_n) == (1, 3)


def test_cims_scan_container_flag_uses_the_docker_sdk(
    pushed: tuple[str, str],
    workspace: Path,
    cims_image: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    ref, digest = pushed
    shutil.copy(FIXTURES / "trivy" / "golden-debian-buster.json", workspace / "data" / "r.json")
    monkeypatch.setenv("FAKE_TRIVY_REPORT", "/data/r.json")
    monkeypatch.setenv("FAKE_SCANNER_LOG", "/data/calls.jsonl")
    monkeypatch.setenv("CIMS_CONTAINER_ENV", "FAKE_TRIVY_REPORT,FAKE_SCANNER_LOG")
    monkeypatch.setenv("CIMS_CONTAINER_TOOLS", str(workspace / "tools"))
    db = workspace / "data" / "sdk.db"
    code = main(
        [
            "scan",
            ref,
            "--tools",
            "trivy",
            "--container",
            "--container-image",
            cims_image,
            "--db",
            str(db),
            "--format",
            "json",
        ]
    )
    out, err = capfd.readouterr()
    assert code == 0, err
    assert json.loads(out)["image"]["digest"] == digest
    assert db.exists()
    (call,) = [json.loads(x) for x in (workspace / "data" / "calls.jsonl").read_text().splitlines()]
    assert call["argv"][-1] == f"{ref.rsplit(':', 1)[0]}@{digest}"
