"""Every example against the generated CRDs as an API server checks it: the OpenAPI schema
(jsonschema; the x-kubernetes-* keys are the server's own) and the CEL rules (cel-python)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import celpy
import jsonschema
import pytest
import yaml

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def _crds() -> dict[str, dict[str, Any]]:
    out = {}
    for path in (ROOT / "crds").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        out[doc["spec"]["names"]["kind"]] = doc
    return out


def _sets_unique(schema: Any) -> Any:
    """x-kubernetes-list-type: set means no item twice: say it in jsonschema's words."""
    if isinstance(schema, list):
        return [_sets_unique(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _sets_unique(v) for k, v in schema.items()}
    if out.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    return out


def admit(obj: dict[str, Any]) -> list[str]:
    """What the API server would refuse in ``obj`` (empty: admitted)."""
    crd = _crds()[obj["kind"]]
    (version,) = crd["spec"]["versions"]
    schema = _sets_unique(version["schema"]["openAPIV3Schema"])
    errors = [
        f"{'.'.join(str(p) for p in e.path)}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(obj)
    ]
    if crd["spec"]["scope"] == "Cluster" and "namespace" in obj["metadata"]:
        errors.append("metadata.namespace: a cluster-scoped object has no namespace")
    env = celpy.Environment()
    spec = schema["properties"]["spec"]
    for rule in spec.get("x-kubernetes-validations", []):
        program = env.program(env.compile(rule["rule"]))
        if not program.evaluate({"self": celpy.json_to_cel(obj.get("spec", {}))}):
            errors.append(f"spec: {rule['message']}")
    return errors


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_admitted_by_the_crds(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        assert admit(doc) == [], path.name


@pytest.mark.parametrize(
    ("kind", "spec", "says"),
    [
        (
            "ImageScan",
            {"image": "app@sha256:" + "a" * 64, "digest": "sha256:" + "b" * 64},
            "pins another digest",
        ),
        (
            "ImageScan",
            {"image": "a:1", "tools": ["va"], "credentials": {"aqua": {"secretName": "s"}}},
            "credentials are given",
        ),
        ("ImageScan", {"image": "a:1", "timeout": 5}, "timeout: 5 is less than the minimum"),
        ("ImageScan", {"tools": ["trivy"]}, "'image' is a required property"),
        ("ImageScan", {"image": "a:1", "tools": ["va", "va"]}, "has non-unique elements"),
        ("ClusterScanPolicy", {"workloadKinds": ["CronTab"]}, "'CronTab' is not one of"),
        (
            "ClusterScanPolicy",
            {"tools": ["grype"], "credentials": {"va": {"secretName": "s"}}},
            "credentials are given",
        ),
        ("ClusterScanPolicy", {"retire": "Later"}, "'Later' is not one of"),
    ],
)
def test_the_crds_refuse_bad_specs(kind: str, spec: dict[str, Any], says: str) -> None:
    obj = {"apiVersion": "cims.dev/v1alpha1", "kind": kind, "metadata": {"name": "x"}, "spec": spec}
    assert any(says in e for e in admit(obj)), admit(obj)
