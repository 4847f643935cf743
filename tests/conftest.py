"""Where the fixtures are: copied licensed ones in tests/fixtures, the rest in ../shared."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# CI runs the property tests on a fixed seed (a red CI must be reproducible); developers'
# runs explore new examples every time.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
SHARED = HERE.parent.parent / "shared" / "fixtures"


def fixture_files() -> list[Path]:
    """Every report file: tests/fixtures, plus shared ones not copied (new files are covered)."""
    files = {p.relative_to(FIXTURES): p for p in FIXTURES.glob("*/*") if p.is_file()}
    if SHARED.is_dir():
        for p in SHARED.glob("*/*"):
            rel = p.relative_to(SHARED)
            if p.is_file() and rel not in files:
                files[rel] = p
    return [files[k] for k in sorted(files)]


def load(path: Path) -> Any:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return json.loads(data)


def shared(name: str) -> Path:
    """A file only ../shared/fixtures has; the test skips with one line where it is absent."""
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"needs ../shared/fixtures/{name} (not shipped: no licence seen)")
    return path


BASE = "local/debian-py:bookworm"
CIMS_TAG = "cims:test"


def docker_ready() -> str | None:
    """Why Docker cannot be used here, or None when it can."""
    if shutil.which("docker") is None:
        return "docker is not installed"
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        return "no Docker daemon answers (scripts/services starts one where it can)"
    probe = subprocess.run(["docker", "image", "inspect", BASE], capture_output=True, check=False)
    if probe.returncode != 0:
        return f"no base image {BASE} (scripts/services builds it with debootstrap)"
    return None


@pytest.fixture(scope="session")
def cims_image() -> str:
    """The CIMS image built from the Dockerfile (once per test session)."""
    why = docker_ready()
    if why:
        pytest.skip(why)
    subprocess.run(
        ["bash", str(HERE.parent / "scripts" / "build-image"), CIMS_TAG],
        env={**os.environ, "BASE": BASE},
        check=True,
        capture_output=True,
    )
    return CIMS_TAG


@pytest.fixture(scope="session")
def pushed(cims_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A debootstrap-based image pushed with Docker to a local docker-registry: (ref, digest)."""
    from tests.fakes.registry import local_registry

    tmp = tmp_path_factory.mktemp("reg")
    with local_registry(tmp) as host:
        ctx = tmp / "app"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo app > /etc/cims-app\n")
        ref = f"{host}/test/app:1"
        for args in (["build", "-q", "-t", ref, str(ctx)], ["push", ref]):
            subprocess.run(["docker", *args], check=True, capture_output=True)
        digest = subprocess.run(
            ["docker", "inspect", "--format", "{{index .RepoDigests 0}}", ref],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        yield ref, digest.split("@", 1)[1]


def stand_in_tools(folder: Path, python: str = "/usr/bin/env python3") -> Path:
    """The stand-in scanners (tests/fakes/fake_scanner.py) as executables in ``folder``, run by
    ``python`` (the default suits the CIMS image; host tests pass their own interpreter)."""
    folder.mkdir(parents=True, exist_ok=True)
    fake = (HERE / "fakes" / "fake_scanner.py").read_text()
    for name in ("trivy", "grype", "twistcli", "scannercli"):
        exe = folder / name
        exe.write_text(f"#!{python}\n" + fake)
        exe.chmod(0o755)
    return folder


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
