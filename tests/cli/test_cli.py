"""The cims command: real reports in, one clear line and an exit code for every bad input."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cims.cli.main import main
from cims.store.schema import SCHEMA_VERSION

from tests.conftest import FIXTURES, shared

TWIST = FIXTURES / "twistlock" / "dd-twistcli-debian9-many.json"
IMAGE = "debian9-app@sha256:f4c0503d26c8da0a04e6190c9d4f2a30f38958852b9fb80bcd2b819a7571e7f7"
BUSYBOX = FIXTURES / "grype" / "dd-busybox-1.32.1-epss.json"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


def test_import_then_report_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "c.db")
    code, out, _ = run(["import", str(TWIST), "--image", IMAGE, "--db", db], capsys)
    assert code == 0
    assert "twistlock, 5 findings" in out
    code, out, _ = run(["report", "--db", db, "--format", "json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "cims.report/v1"
    assert doc["image"]["digest"] == IMAGE.split("@")[1]
    assert doc["summary"]["findings"] == 5
    assert {f["vulnerability"] for f in doc["findings"]} >= {"CVE-2018-6485", "CVE-2013-7459"}
    code, out, _ = run(
        ["report", "--db", db, "--format", "json", "--min-severity", "critical"], capsys
    )
    assert {f["severity"] for f in json.loads(out)["findings"]} == {"CRITICAL"}
    code, out, _ = run(["report", "--db", db], capsys)
    assert code == 0
    assert "CVE-2018-6485" in out
    assert "glibc" in out
    code, out, _ = run(["db", "check", "--db", db], capsys)
    assert code == 0
    assert f"ok (schema v{SCHEMA_VERSION}, 1 images)" in out


def test_same_image_pair_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trivy = shared("trivy/lichtiix-trivy-cicd-app-ubuntu2204.json.gz")
    grype = shared("grype/lichtiix-grype-0.104.2-cicd-app-ubuntu2204.json.gz")
    db = str(tmp_path / "c.db")
    code, _, err = run(
        ["import", str(trivy), str(grype), "--image", "cicd-app:local", "--db", db], capsys
    )
    assert code == 0, err
    code, out, _ = run(["report", "--db", db, "--format", "json", "--min-tools", "2"], capsys)
    doc = json.loads(out)
    assert doc["summary"]["findings"] == doc["summary"]["found_by_several_tools"] > 100
    assert all(f["tools"] == ["grype", "trivy"] for f in doc["findings"])


BAD = [
    (["import", "{missing}", "--image", IMAGE], "cannot read report"),
    (["import", "{garbage}", "--image", IMAGE], "not valid JSON"),
    (["import", "{truncated}", "--image", IMAGE], "truncated"),
    (["import", str(TWIST), "--image", IMAGE, "--tool", "grype"], "twistlock report, not grype"),
    (["import", str(BUSYBOX), "--image", IMAGE], "report is of image digest"),
    (["import", str(TWIST), "--image", "Bad:Ref"], "must be lowercase"),
    (["import", str(TWIST), "--image", "x@sha256:12"], "expected 64 hex digits"),
    (["import", str(TWIST), "--image", "debian9-app"], "has no digest"),
    (["import", "{badsev}", "--image", IMAGE], "unknown severity 'severe'"),
    (["import", "{nomatches}", "--image", IMAGE, "--tool", "grype"], "missing the 'matches'"),
    (["import", "{empty}", "--image", IMAGE], "pass --tool"),
    (["report", "--digest", "sha256:zz"], "malformed --digest"),
]


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, str]:
    data = TWIST.read_bytes()
    doc = json.loads(data)
    doc["results"][0]["vulnerabilities"][0]["severity"] = "severe"
    files = {
        "missing": tmp_path / "nope.json",
        "garbage": tmp_path / "garbage.json",
        "truncated": tmp_path / "truncated.json",
        "badsev": tmp_path / "badsev.json",
        "nomatches": tmp_path / "nomatches.json",
        "empty": tmp_path / "empty.json",
    }
    files["garbage"].write_text("<html>502 Bad Gateway</html>")
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["badsev"].write_text(json.dumps(doc))
    grype = json.loads(BUSYBOX.read_bytes())
    del grype["matches"]
    files["nomatches"].write_text(json.dumps(grype))
    files["empty"].write_text("{}")
    return {k: str(v) for k, v in files.items()}


@pytest.mark.parametrize(("args", "says"), BAD, ids=[b[1] for b in BAD])
def test_bad_input_is_one_line_nonzero_and_the_db_unchanged(
    args: list[str],
    says: str,
    bad_files: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "c.db"
    assert main(["import", str(TWIST), "--image", IMAGE, "--db", str(db)]) == 0
    capsys.readouterr()
    before = _digest(db)
    argv = [a.format(**bad_files) for a in args] + ["--db", str(db)]
    code, _, err = run(argv, capsys)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("cims: error: ")
    assert says in lines[0]
    assert _digest(db) == before


def test_corrupt_db_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "c.db"
    db.write_bytes(b"\0garbage" * 512)
    code, _, err = run(["report", "--db", str(db)], capsys)
    assert code == 4
    assert err.count("\n") == 1
    assert "corrupt" in err


def test_console_script_and_demo_run_in_a_fresh_process(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("cims")
    proc = subprocess.run(
        [str(exe), "demo", "--db", str(tmp_path / "d.db"), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["image"]["name"] == "ghcr.io/aquasecurity/trivy-test-images"
    assert len(doc["tool_runs"]) == 5
    assert doc["summary"]["raw_findings"] == 23
