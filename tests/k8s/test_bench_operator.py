"""bench/operator_scale.py keeps working, and its two kmock bridges do not change what the
operator does: with and without them, every ImageScan ends Scanning or Pending and exactly
the concurrency limit of Jobs exists. (Its speed is the bench's business, not a test's.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench" / "operator_scale.py"


@pytest.mark.parametrize("flags", [[], ["--raw-kmock"]], ids=["bridged", "raw-kmock"])
def test_operator_bench_settles_every_imagescan_under_the_limit(flags: list[str]) -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--count", "25", "--deadline", "60", *flags],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    settled = [line for line in lines if line.startswith("operator ")]
    assert len(settled) == 2, run.stdout
    assert all(": every one Scanning or Pending after" in line for line in settled), run.stdout
    assert "scan Jobs created: 10 (the limit is 10" in run.stdout
