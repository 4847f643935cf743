#!/usr/bin/env python3
"""A stand-in for trivy, grype, twistcli and scannercli: replays a real report from the fixtures.

It is installed under the tool's name (a symlink), checks the argument shape the real tool
needs (and fails like it when it is wrong), logs what it got, then behaves as
FAKE_SCANNER_MODE says: ok, policy (exit 1 or 4 after writing), crash, garbage, truncated,
nofile, slow (sleeps FAKE_SCANNER_SLEEP seconds first).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def fail(msg: str, code: int = 2) -> None:
    sys.stderr.write(msg + "\n")
    sys.exit(code)


def option(argv: list[str], name: str) -> str | None:
    if name in argv:
        i = argv.index(name)
        return argv[i + 1] if i + 1 < len(argv) else None
    return None


def output_of(tool: str, argv: list[str]) -> str:
    if tool == "trivy":
        if not argv or argv[0] not in ("image", "sbom"):
            fail("trivy: unknown command")
        if option(argv, "--format") != "json":
            fail("trivy: this fake only writes --format json")
        out = option(argv, "--output")
    elif tool == "grype":
        if not argv or not argv[0].startswith(("registry:", "sbom:")):
            fail("grype: first argument must be the source")
        if option(argv, "-o") != "json":
            fail("grype: this fake only writes -o json")
        out = option(argv, "--file")
    elif tool == "twistcli":
        if argv[:2] != ["images", "scan"]:
            fail("twistcli: unknown command")
        if argv[-1].startswith("-") or option(argv, "--address") is None:
            fail("twistcli: the image must be the last argument, after --address")
        if "--details" not in argv:
            fail("twistcli: this fake wants --details")
        out = option(argv, "--output-file")
    elif tool == "scannercli":
        if argv[:1] != ["scan"] or option(argv, "--host") is None:
            fail("scannercli: usage: scannercli scan --host URL ... IMAGE")
        out = option(argv, "--jsonfile")
    else:
        fail(f"fake scanner does not know {tool}")
    if not out:
        fail(f"{tool}: no output file option")
    return str(out)


def as_scanned(report: bytes, target: str) -> bytes:
    """The replayed report, naming the image it was asked to scan (as the real tool would)."""
    sbom = target[5:] if target.startswith("sbom:") else target
    if Path(sbom).is_file():  # an SBOM scan names the image syft read
        meta = json.loads(Path(sbom).read_text()).get("source", {}).get("metadata", {})
        if "manifestDigest" in meta:
            target = f"{meta['userInput'].split(':', 1)[1]}@{meta['manifestDigest']}"
    if "@sha256:" not in target:
        return report
    digest = "sha256:" + target.split("@sha256:", 1)[1]
    name = target.split(":", 1)[1] if target.startswith(("registry:", "sbom:")) else target
    doc = json.loads(report)
    if isinstance(doc, dict) and "digest" in doc:  # aqua scannercli
        doc["digest"] = digest
    meta = doc.get("Metadata") if isinstance(doc, dict) else None
    if isinstance(meta, dict) and "RepoDigests" in meta:  # trivy
        meta["RepoDigests"] = [name]
    source = doc.get("source") if isinstance(doc, dict) else None
    if isinstance(source, dict) and isinstance(source.get("target"), dict):  # grype
        source["target"]["manifestDigest"] = digest
        source["target"]["repoDigests"] = [name]
    return json.dumps(doc).encode()


def main() -> None:
    tool = Path(sys.argv[0]).name
    argv = sys.argv[1:]
    stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
    log = os.environ.get("FAKE_SCANNER_LOG")
    if log:
        with open(log, "a") as fh:
            env = {k: v for k, v in os.environ.items() if k.startswith(("TRIVY_", "GRYPE_"))}
            entry = {"tool": tool, "argv": argv, "env": env, "stdin": stdin}
            sbom = next((a[5:] for a in argv if a.startswith("sbom:")), argv[-1] if argv else "")
            if argv and argv[0].startswith("sbom") and Path(sbom).is_file():
                # what syft found, for the tests to check
                packages = json.loads(Path(sbom).read_text()).get("artifacts", [])
                entry["sbom_packages"] = len(packages)
            fh.write(json.dumps(entry) + "\n")
    out = output_of(tool, argv)
    mode = os.environ.get(f"FAKE_{tool.upper()}_MODE") or os.environ.get("FAKE_SCANNER_MODE", "ok")
    if mode == "slow":
        pause = os.environ.get(f"FAKE_{tool.upper()}_SLEEP") or os.environ.get("FAKE_SCANNER_SLEEP")
        time.sleep(float(pause or "30"))
    if mode == "crash":  # like many tools, it echoes its command line when it dies
        fail(f"{tool}: panic: runtime error running {' '.join(sys.argv)}", 2)
    if mode == "nofile":
        fail(f"{tool}: failed to authenticate to the console", 1)
    report = Path(os.environ[f"FAKE_{tool.upper()}_REPORT"]).read_bytes()
    if mode != "otherimage":
        report = as_scanned(report, argv[-1] if tool != "grype" else argv[0])
    if mode == "garbage":
        report = b"<html><body>502 Bad Gateway</body></html>"
    if mode == "truncated":
        report = report[: len(report) // 2]
    Path(out).write_bytes(report)
    if mode == "policy":
        sys.exit(4 if tool == "scannercli" else 1)


if __name__ == "__main__":
    main()
