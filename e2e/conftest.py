"""The e2e suite needs kind, kubectl, helm and Docker; without them every test skips with one
line. It has never run on the development machines (kind and its node image cannot be had
there): treat a first run elsewhere as the real check of this file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[1]
CLUSTER = os.environ.get("CIMS_E2E_CLUSTER", "cims-e2e")
NEEDED = ("kind", "kubectl", "helm", "docker")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if not missing:
        return
    skip = pytest.mark.skip(
        reason=f"e2e needs {', '.join(NEEDED)} on PATH; missing here: {', '.join(missing)}"
    )
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


def sh(*args: str, input_text: str | None = None, check: bool = True) -> str:
    proc = subprocess.run(args, input=input_text, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: exit {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout


def kubectl_json(*args: str) -> Any:
    return json.loads(sh("kubectl", *args, "-o", "json"))


@pytest.fixture(scope="session")
def cluster() -> Iterator[str]:
    """A kind cluster with one worker labelled as the internal-network pool."""
    config = (
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n"
        "  - role: control-plane\n  - role: worker\n"
        "    labels: {cims.dev/internal-network: 'true'}\n"
    )
    sh(
        "kind",
        "create",
        "cluster",
        "--name",
        CLUSTER,
        "--wait",
        "180s",
        "--config",
        "-",
        input_text=config,
    )
    try:
        yield CLUSTER
    finally:
        if not os.environ.get("CIMS_E2E_KEEP"):
            sh("kind", "delete", "cluster", "--name", CLUSTER, check=False)


@pytest.fixture(scope="session")
def installed(cluster: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The CIMS image (with stand-in trivy and the fixtures inside) loaded, the chart installed."""
    scanners = tmp_path_factory.mktemp("scanners")
    fake = (ROOT / "tests" / "fakes" / "fake_scanner.py").read_text()
    for name in ("trivy", "grype"):
        exe = scanners / name
        exe.write_text("#!/usr/bin/env python3\n" + fake)
        exe.chmod(0o755)
    shutil.copytree(ROOT / "tests" / "fixtures", scanners / "fixtures")
    env = {**os.environ, "SCANNERS": str(scanners)}
    subprocess.run(["bash", str(ROOT / "scripts" / "build-image"), "cims:e2e"], env=env, check=True)
    sh("kind", "load", "docker-image", "cims:e2e", "--name", cluster)
    sh(
        "helm",
        "upgrade",
        "--install",
        "cims",
        str(ROOT / "charts" / "cims"),
        "--namespace",
        "cims",
        "--create-namespace",
        "--wait",
        "--timeout",
        "5m",
        "--set",
        "image.repository=cims",
        "--set",
        "image.tag=e2e",
        "--set",
        "sharedVolume.accessModes={ReadWriteOnce}",
        "--set-json",
        'scans.nodeSelector={"cims.dev/internal-network":"true"}',
    )
    return "cims"


def wait_for(check: Any, what: str, timeout: float = 600) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(3)
    raise AssertionError(f"timed out waiting for {what}")
