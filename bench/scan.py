"""Benchmark: a scan's wall time against its slowest tool alone (target ratio <= 1.05).

Stand-in scanners (tests/fakes/fake_scanner.py) take known times and replay real reports;
the scan runs them in parallel through the real runtime (processes, parsing, checks).
Run: ``.venv/bin/python bench/scan.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cims.model import ImageRef
from cims.runtime.scan import scan_image

ROOT = Path(__file__).resolve().parents[1]
FAKE = ROOT / "tests" / "fakes" / "fake_scanner.py"
FIX = ROOT / "tests" / "fixtures"
TIMES = {"twistcli": 1.0, "scannercli": 1.5, "trivy": 2.0, "grype": 0.5}
REPORTS = {
    "trivy": FIX / "trivy" / "golden-debian-buster.json",
    "grype": FIX / "grype" / "dd-vulnerable-image-debian10-allfields.json",
    "twistcli": FIX / "twistlock" / "dd-twistcli-debian9-many.json",
    "scannercli": FIX / "aqua" / "dd-aqua-scanner-debian10-aqua-severity.json",
}
IMAGE = ImageRef.parse("registry.internal:5000/team/app:1@sha256:" + "ab" * 32)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bindir = Path(tmp)
        for name in REPORTS:
            exe = bindir / name
            exe.write_text(f"#!{sys.executable}\n" + FAKE.read_text())
            exe.chmod(0o755)
        env = {
            "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
            "FAKE_SCANNER_MODE": "slow",
            "CIMS_TWISTLOCK_ADDRESS": "https://console.internal",
            "CIMS_TWISTLOCK_USER": "u",
            "CIMS_TWISTLOCK_PASSWORD": "p",
            "CIMS_AQUA_HOST": "https://aqua.internal",
            "CIMS_AQUA_USER": "u",
            "CIMS_AQUA_PASSWORD": "p",
        }
        for name, seconds in TIMES.items():
            env[f"FAKE_{name.upper()}_SLEEP"] = str(seconds)
            env[f"FAKE_{name.upper()}_REPORT"] = str(REPORTS[name])
        alone, together = [], []
        for _ in range(3):
            start = time.perf_counter()
            scan_image(IMAGE, ["trivy"], env=env)
            alone.append(time.perf_counter() - start)
            start = time.perf_counter()
            outcomes = scan_image(IMAGE, ["twistlock", "aqua", "trivy", "grype"], env=env)
            together.append(time.perf_counter() - start)
            assert all(o.run.status == "ok" for o in outcomes), [o.run for o in outcomes]
    a, t = statistics.median(alone), statistics.median(together)
    print(f"tool times: {TIMES} s (slowest: trivy {TIMES['trivy']} s)")
    print(f"slowest tool alone (baseline, median of 3): {a:.3f} s")
    print(f"all four tools in one scan (median of 3): {t:.3f} s")
    print(f"ratio: {t / a:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
