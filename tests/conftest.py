"""Where the fixtures are: copied licensed ones in tests/fixtures, the rest in ../shared."""

from __future__ import annotations

import gzip
import json
import os
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
