"""Benchmark: parse, normalize and correlate every fixture report, to at least 200k findings.

Prints findings/s, peak RSS and the ratio of CIMS's time to bare ``json.loads`` of the same
bytes, both measured in this run. Target ratio: <= 3. Run: ``.venv/bin/python bench/ingest.py``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import time
from pathlib import Path

import orjson
from cims.correlate.merge import correlate
from cims.errors import InputError
from cims.model import Finding
from cims.scanners.registry import parse_report

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = [ROOT / "tests" / "fixtures", ROOT.parent / "shared" / "fixtures"]


def reports() -> list[tuple[str, bytes]]:
    seen: dict[str, bytes] = {}
    for folder in FOLDERS:
        for path in sorted(folder.glob("*/*.json*")):
            data = path.read_bytes()
            if path.suffix == ".gz":
                data = gzip.decompress(data)
            seen.setdefault(f"{path.parent.name}/{path.name}", data)
    return sorted(seen.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--min-findings", type=int, default=200_000)
    args = parser.parse_args()
    files = []
    for name, data in reports():
        tool = name.split("/", 1)[0]
        try:
            report, _ = parse_report(data, name)
        except InputError:
            report, _ = parse_report(data, name, tool)  # the empty reports need --tool
        files.append((name, data, tool, len(report.findings)))
    per_round = sum(f[3] for f in files)
    rounds = -(-args.min_findings // per_round)

    # Baseline and CIMS alternate round by round, so drift of the machine hits both alike.
    bare = fast = cims = 0.0
    total = 0
    for _ in range(rounds):
        start = time.perf_counter()
        for _name, data, _tool, _n in files:
            json.loads(data)
        bare += time.perf_counter() - start
        start = time.perf_counter()
        for _name, data, _tool, _n in files:
            orjson.loads(data)
        fast += time.perf_counter() - start
        start = time.perf_counter()
        for name, data, tool, _n in files:
            try:
                report, _ = parse_report(data, name)
            except InputError:
                report, _ = parse_report(data, name, tool)
            rows: list[tuple[int, Finding]] = list(enumerate(report.findings))
            correlate(rows)
            total += len(rows)
        cims += time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"reports: {len(files)} files x {rounds} rounds, {total} raw findings")
    print(f"baseline json.loads: {bare:.2f} s")
    print(f"cims parse+normalize+correlate: {cims:.2f} s, {total / cims:,.0f} findings/s")
    print(f"peak RSS: {rss_mb:.0f} MiB")
    print(f"ratio to json.loads: {cims / bare:.1f} (target <= 3)")
    # CIMS decodes with orjson: this says what the rest (normalizing, correlating) costs.
    print(f"ratio to orjson.loads (the decoder CIMS uses): {cims / fast:.1f}")


if __name__ == "__main__":
    main()
