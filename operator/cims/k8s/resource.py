"""The ImageScan custom resource: its spec as a pydantic model, and the CRD generated from it."""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cims.model import ImageRef, check_digest

GROUP = "cims.dev"
VERSION = "v1alpha1"
KIND = "ImageScan"
PLURAL = "imagescans"
SINGULAR = "imagescan"
SHORT_NAMES = ("iscan",)

Tool = Literal["twistlock", "aqua", "va", "trivy", "grype"]
DEFAULT_TOOLS: tuple[Tool, ...] = ("twistlock", "va")
SeverityWord = Literal["critical", "high", "medium", "low", "negligible", "unknown"]


class Credentials(BaseModel):
    """A Secret whose keys become the tool's settings (e.g. CIMS_TWISTLOCK_PASSWORD)."""

    model_config = ConfigDict(extra="forbid")

    secretName: str = Field(min_length=1, max_length=253)


class Placement(BaseModel):
    """Where the scan Job runs. Unset fields take the operator's defaults."""

    model_config = ConfigDict(extra="forbid")

    nodeSelector: dict[str, str] | None = None
    tolerations: list[dict[str, Any]] | None = None
    affinity: dict[str, Any] | None = None
    serviceAccountName: str | None = None
    imagePullSecrets: list[dict[str, str]] | None = None
    resources: dict[str, Any] | None = None


class ImageScanSpec(BaseModel):
    """What to scan and how."""

    model_config = ConfigDict(extra="forbid")

    image: str = Field(min_length=1, max_length=512, description="Fully qualified image name.")
    digest: str | None = Field(
        None, pattern=r"^sha256:[0-9a-f]{64}$", description="Resolved from the registry if unset."
    )
    tools: list[Tool] = Field(
        default_factory=lambda: list(DEFAULT_TOOLS), min_length=1, max_length=5
    )
    failOn: SeverityWord | None = Field(None, description="Severity that makes the scan failing.")
    timeout: int = Field(900, ge=60, le=86400, description="Seconds the scan Job may run.")
    credentials: dict[Tool, Credentials] | None = None
    placement: Placement | None = None
    rescanInterval: str | None = Field(
        None, pattern=r"^[0-9]+(s|m|h|d)$", description="Rescan period, e.g. 12h or 7d."
    )
    suspend: bool = False

    def image_ref(self) -> ImageRef:
        """The image as CIMS parses it (with the spec's digest); raises InputError if bad."""
        ref = ImageRef.parse(self.image)
        if self.digest:
            digest = check_digest(self.digest)
            if ref.digest and ref.digest != digest:
                from cims.errors import InputError  # noqa: PLC0415 (only on this error path)

                raise InputError("spec.image pins another digest than spec.digest")
            ref = ref.with_digest(digest)
        return ref

    def rescan_seconds(self) -> int | None:
        return interval_seconds(self.rescanInterval) if self.rescanInterval else None


def interval_seconds(text: str) -> int:
    """Seconds of a period written as 30s, 15m, 12h or 7d (the CRDs' pattern)."""
    return int(text[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[text[-1]]


# --- CRD generation -----------------------------------------------------------------------------

# Shared by both kinds: a credentials Secret only for a tool the spec selects.
CREDENTIALS_RULE = {
    "rule": "!has(self.credentials) || self.credentials.all(t, t in self.tools)",
    "message": "credentials are given for a tool that is not in spec.tools",
}
CEL_RULES = [
    {
        "rule": (
            "!has(self.digest) || !self.image.contains('@') || self.image.endsWith(self.digest)"
        ),
        "message": "spec.image pins another digest than spec.digest",
    },
    CREDENTIALS_RULE,
]


def structural(schema: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """Pydantic JSON schema -> Kubernetes structural OpenAPI v3 (inlined, no anyOf-null)."""
    if "$ref" in schema:
        return structural(copy.deepcopy(defs[schema["$ref"].split("/")[-1]]), defs)
    out: dict[str, Any] = {
        k: v for k, v in schema.items() if k not in ("title", "$defs", "default")
    }
    if "anyOf" in out:
        options = [o for o in out.pop("anyOf") if o.get("type") != "null"]
        merged: dict[str, Any] = (
            structural(options[0], defs) if len(options) == 1 else {"type": "string"}
        )
        merged.update({k: v for k, v in out.items() if k != "anyOf"})
        out = merged
    if "default" in schema and not isinstance(schema["default"], type(None)):
        out["default"] = schema["default"]
    if out.get("type") == "object":
        props = out.get("properties")
        if props:
            out["properties"] = {k: structural(v, defs) for k, v in props.items()}
            out.pop("additionalProperties", None)
        elif isinstance(out.get("additionalProperties"), dict):
            extra = out["additionalProperties"]
            if extra == {} or (extra.get("type") is None and "$ref" not in extra):
                out.pop("additionalProperties")
                out["x-kubernetes-preserve-unknown-fields"] = True
            else:
                out["additionalProperties"] = structural(extra, defs)
        else:
            out.pop("additionalProperties", None)
            out["x-kubernetes-preserve-unknown-fields"] = True
    if out.get("type") == "array" and "items" in out:
        out["items"] = structural(out["items"], defs)
        if out["items"] == {}:
            out["items"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if "propertyNames" in out:  # dict keyed by an enum: CEL checks it instead
        out.pop("propertyNames")
    return out


def spec_schema() -> dict[str, Any]:
    raw = ImageScanSpec.model_json_schema()
    spec = structural(raw, raw.get("$defs", {}))
    spec["properties"]["tools"]["x-kubernetes-list-type"] = "set"  # no tool twice
    spec["properties"]["tools"]["default"] = ["twistlock", "va"]
    spec["required"] = ["image"]
    spec["x-kubernetes-validations"] = CEL_RULES
    return spec


def crd() -> dict[str, Any]:
    """The CustomResourceDefinition of ImageScan (crds/ holds it; a test keeps them equal)."""
    columns = [
        ("Image", ".spec.image", "string"),
        ("Digest", ".status.shortDigest", "string"),
        ("Phase", ".status.phase", "string"),
        ("Critical", ".status.summary.critical", "integer"),
        ("High", ".status.summary.high", "integer"),
        ("Tools", ".status.toolsSummary", "string"),
        ("Age", ".metadata.creationTimestamp", "date"),
    ]
    return crd_document(
        kind=KIND,
        plural=PLURAL,
        singular=SINGULAR,
        short_names=SHORT_NAMES,
        scope="Namespaced",
        columns=columns,
        spec=spec_schema(),
    )


def crd_document(
    *,
    kind: str,
    plural: str,
    singular: str,
    short_names: tuple[str, ...],
    scope: str,
    columns: list[tuple[str, str, str]],
    spec: dict[str, Any],
) -> dict[str, Any]:
    """A CustomResourceDefinition of the cims.dev group: one served version, the status
    subresource (free-form: the operator writes it), printer columns, the spec's schema."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": scope,
            "names": {
                "kind": kind,
                "plural": plural,
                "singular": singular,
                "shortNames": list(short_names),
                "categories": ["cims"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": n, "jsonPath": p, "type": t} for n, p, t in columns
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": spec,
                                "status": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                },
                            },
                            "required": ["spec"],
                        }
                    },
                }
            ],
        },
    }
