"""Fake scanner executables on PATH, each replaying a real report of the fixtures."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, stand_in_tools

REPORTS = {
    "trivy": FIXTURES / "trivy" / "golden-debian-buster.json",
    "grype": FIXTURES / "grype" / "dd-vulnerable-image-debian10-allfields.json",
    "twistcli": FIXTURES / "twistlock" / "dd-twistcli-debian9-many.json",
    "scannercli": FIXTURES / "aqua" / "dd-aqua-scanner-debian10-aqua-severity.json",
}


class Fakes:
    def __init__(self, bindir: Path, log: Path) -> None:
        self.bindir = bindir
        self.log = log
        self.env: dict[str, str] = {
            "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(bindir.parent),
            "FAKE_SCANNER_LOG": str(log),
            "CIMS_TWISTLOCK_ADDRESS": "https://console.internal:8083",
            "CIMS_TWISTLOCK_USER": "scanner",
            "CIMS_TWISTLOCK_PASSWORD": "tw-s3cret-pa55",
            "CIMS_AQUA_HOST": "https://aqua.internal",
            "CIMS_AQUA_USER": "scanner",
            "CIMS_AQUA_PASSWORD": "aq-s3cret-pa55",
        }
        for tool, report in REPORTS.items():
            self.env[f"FAKE_{tool.upper()}_REPORT"] = str(report)

    def calls(self) -> list[dict[str, object]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def fakes(tmp_path: Path) -> Fakes:
    bindir = stand_in_tools(tmp_path / "bin", sys.executable)
    return Fakes(bindir, tmp_path / "calls.jsonl")
