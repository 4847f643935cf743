"""SBOM-first scans: syft reads the image once; trivy and grype read syft's SBOM."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cims.errors import ToolError
from cims.model import ImageRef
from cims.oci import plain_http
from cims.runtime.process import run
from cims.scanners.interface import Invocation


def syft_invocation(image: ImageRef, out: Path, env: Mapping[str, str]) -> Invocation:
    extra = {"SYFT_CHECK_FOR_APP_UPDATE": "false"}
    if plain_http(image.registry, env):
        extra["SYFT_REGISTRY_INSECURE_USE_HTTP"] = "true"
    argv = (
        env.get("CIMS_SYFT", "syft"),
        f"registry:{image.name}@{image.digest}",
        "-o",
        f"json={out}",
        "-q",
    )
    return Invocation(argv=argv, output=out, env=extra)


def make_sbom(image: ImageRef, out: Path, env: Mapping[str, str], timeout_s: float) -> Path:
    """Write syft's JSON SBOM of ``image`` (by digest) to ``out``."""
    inv = syft_invocation(image, out, env)
    result = run(inv, timeout_s, env)
    if result.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        raise ToolError(
            f"syft could not read {image} (exit {result.returncode}): "
            f"{result.stderr_tail or 'no message'}"
        )
    return out
