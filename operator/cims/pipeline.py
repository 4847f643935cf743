"""DevSecOps pipeline mode: the ``multiscan`` properties and the image artifacts a pipeline saved.

Properties (from a file, else the environment):
  ``multiscan``        any non-empty value enables multi-scanning (env ``MULTISCAN``)
  ``multiscan-tools``  comma-separated, default ``twistlock,va``; valid: twistlock, aqua, va
                       (env ``MULTISCAN_TOOLS``)
Artifacts (from a file, else env ``CIMS_ARTIFACTS`` as JSON): a list of objects with ``type``,
``name`` and ``digest``; objects of other types than ``image`` are noted and skipped.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from cims.errors import InputError
from cims.model import ImageRef, check_digest
from cims.runtime.scan import DEFAULT_TOOLS, parse_tools

PIPELINE_TOOLS = ("twistlock", "aqua", "va")


class Artifact(BaseModel):
    """An image the pipeline built and saved: name and digest."""

    image: ImageRef
    name: str
    digest: str


class PipelinePlan(BaseModel):
    enabled: bool
    tools: tuple[str, ...]
    images: list[Artifact]
    skipped: list[str]


def _load(path: Path, what: str) -> Any:
    try:
        text = path.read_text()
    except OSError as err:
        raise InputError(f"cannot read the {what} file {str(path)!r}: {err.strerror}") from None
    if path.suffix in (".json",):
        try:
            return json.loads(text)
        except ValueError as err:
            raise InputError(f"{what} file {path.name} is not valid JSON: {err}") from None
    if path.suffix in (".properties", ".env"):
        out = {}
        for raw in text.splitlines():
            line = raw.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                out[key.strip()] = value.strip()
        return out
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InputError(f"{what} file {path.name} is not valid YAML: {err}") from None


def properties(path: Path | None, env: Mapping[str, str]) -> dict[str, str]:
    if path is None:
        return {
            "multiscan": env.get("MULTISCAN", ""),
            "multiscan-tools": env.get("MULTISCAN_TOOLS", ""),
        }
    doc = _load(path, "properties")
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InputError(f"properties file {path.name}: expected key/value pairs")
    return {str(k): "" if v is None else str(v) for k, v in doc.items()}


def artifacts(path: Path | None, env: Mapping[str, str]) -> list[Any]:
    if path is not None:
        doc = _load(path, "artifacts")
    elif env.get("CIMS_ARTIFACTS"):
        try:
            doc = json.loads(env["CIMS_ARTIFACTS"])
        except ValueError as err:
            raise InputError(f"CIMS_ARTIFACTS is not valid JSON: {err}") from None
    else:
        raise InputError("no artifacts: pass --artifacts FILE or set CIMS_ARTIFACTS (JSON list)")
    if isinstance(doc, dict) and isinstance(doc.get("artifacts"), list):
        doc = doc["artifacts"]
    if not isinstance(doc, list):
        raise InputError("artifacts: expected a list of {type, name, digest} objects")
    return doc


def plan(
    props_file: Path | None, artifacts_file: Path | None, env: Mapping[str, str] | None = None
) -> PipelinePlan:
    """Read the properties and artifacts; every bad artifact is reported before any scan."""
    environ = os.environ if env is None else env
    props = properties(props_file, environ)
    if not props.get("multiscan", "").strip():
        return PipelinePlan(enabled=False, tools=(), images=[], skipped=[])
    tools = parse_tools(props.get("multiscan-tools", "").strip() or ",".join(DEFAULT_TOOLS))
    bad = [t for t in tools if t not in PIPELINE_TOOLS]
    if bad:
        raise InputError(
            f"multiscan-tools: {bad[0]!r} is not a pipeline tool; "
            f"valid: {', '.join(PIPELINE_TOOLS)}"
        )
    images: list[Artifact] = []
    skipped: list[str] = []
    for i, item in enumerate(artifacts(artifacts_file, environ)):
        if not isinstance(item, dict):
            raise InputError(f"artifact {i}: expected an object with type, name, digest")
        kind = str(item.get("type") or "")
        label = item.get("name") or f"#{i}"
        if kind != "image":
            skipped.append(f"artifact {label}: type {kind or 'missing'!r} is not image, skipped")
            continue
        name, digest = item.get("name"), item.get("digest")
        if not name or not digest:
            missing = "name" if not name else "digest"
            raise InputError(f"image artifact {label}: no {missing}; the pipeline must save both")
        digest = check_digest(str(digest), what=f"digest of image artifact {name}")
        ref = ImageRef.parse(str(name))
        if ref.digest and ref.digest != digest:
            raise InputError(f"image artifact {name}: its name pins another digest than {digest}")
        images.append(Artifact(image=ref.with_digest(digest), name=str(name), digest=digest))
    return PipelinePlan(enabled=True, tools=tools, images=images, skipped=skipped)


def report_name(image: ImageRef) -> str:
    """A file name for one image's report: repository and short digest."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", image.repository)
    return f"{stem}-{(image.digest or '')[7:19]}.json"
