"""The chart installed by the real Helm engine (helm-sdkpy) into kmock; every object it creates
validated against the Kubernetes API schemas; then the operator, configured exactly as the
installed Deployment says, turns an example ImageScan into a Job that the chart's values place.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cims.k8s.config import from_env

from tests.k8s.conftest import NS, Cluster, running_operator

ROOT = Path(__file__).parents[2]
CHART = ROOT / "charts" / "cims"
K8S_VERSION = "1.30.0"  # the oldest Kubernetes the chart supports (CEL on CRDs is GA in 1.29)
OWN_KINDS = {"CustomResourceDefinition"}  # validated as apiextensions.k8s.io/v1 objects


def _helm_python() -> str:
    python = os.environ.get("CIMS_HELM_PYTHON")
    if not python or not Path(python).exists():
        pytest.skip("no Helm library: set CIMS_HELM_PYTHON to a Python >= 3.12 with helm-sdkpy")
    return python


async def _install(
    cluster: Cluster, values: dict[str, Any], namespace: str = NS, chart: Path = CHART
) -> list[Any]:
    """helm install into kmock; returns the objects Helm created, in order."""
    python = _helm_python()
    # kmock 0.8 names the core group "/v1" in /api/v1 (a real server says "v1"); Helm's REST
    # mapper then finds no core kinds. Serve the same document with the right name.
    core = await cluster.request("GET", "/api/v1")
    cluster.kmock["get", "/api/v1"] << {**core, "groupVersion": "v1"}
    cluster.kmock.resources["monitoring.coreos.com/v1/servicemonitors"] = (
        cluster.kmock.ResourceInfo(
            kind="ServiceMonitor", namespaced=True, verbs={"list", "get", "create", "patch"}
        )
    )
    before = len(list(cluster.kmock))
    proc = await asyncio.create_subprocess_exec(
        python,
        str(ROOT / "scripts" / "chart-install.py"),
        str(chart),
        namespace,
        json.dumps(values),
        env={**os.environ, "HELM_DRIVER": "memory"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, out.decode()
    assert out.decode().strip() == "cims: deployed"
    return [r.data for r in list(cluster.kmock)[before:] if r.method == "POST"]


def _kinds(objects: list[Any]) -> list[tuple[str, str]]:
    return [(o["kind"], o["metadata"].get("namespace", "")) for o in objects]


def _validate(objects: list[Any]) -> None:
    for obj in objects:
        if obj["kind"] == "ServiceMonitor":
            continue  # the Prometheus operator's CRD: not in the Kubernetes API schemas
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            where = ".".join(str(p) for p in err.path)
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {where}: {err.message}")


async def test_default_install_is_valid_and_cluster_wide(cluster: Cluster) -> None:
    objects = await _install(cluster, {})
    _validate(objects)
    kinds = _kinds(objects)
    assert kinds.count(("CustomResourceDefinition", "")) == 2
    assert ("ClusterRole", "") in kinds
    assert ("Role", NS) in kinds  # ImageScans of policies: created only in the release namespace
    assert ("PersistentVolumeClaim", NS) in kinds
    crds = {o["metadata"]["name"]: o for o in objects if o["kind"] == "CustomResourceDefinition"}
    for path in (ROOT / "crds").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        assert crds[doc["metadata"]["name"]]["spec"] == doc["spec"]


async def test_a_misspelt_field_in_a_template_is_caught(cluster: Cluster, tmp_path: Path) -> None:
    broken = tmp_path / "cims"
    shutil.copytree(CHART, broken)
    deployment = broken / "templates" / "deployment.yaml"
    text = deployment.read_text()
    assert "serviceAccountName:" in text
    deployment.write_text(text.replace("serviceAccountName:", "serviceAcountName:"))
    objects = await _install(cluster, {}, chart=broken)  # Helm itself does not mind
    with pytest.raises(pytest.fail.Exception, match="'serviceAcountName' was unexpected"):
        _validate(objects)


async def test_namespaced_install_has_roles_only_where_it_watches(cluster: Cluster) -> None:
    objects = await _install(
        cluster,
        {
            "watchNamespaces": ["team-a", "team-b"],
            "sharedVolume": {"existingClaim": "cims-db"},
            "metrics": {"serviceMonitor": {"enabled": True}},
        },
    )
    _validate(objects)
    kinds = _kinds(objects)
    assert ("ClusterRole", "") not in kinds
    assert sorted(k for k in kinds if k[0] == "Role") == [("Role", "team-a"), ("Role", "team-b")]
    assert ("PersistentVolumeClaim", NS) not in kinds  # the existing claim is used
    assert ("ServiceMonitor", NS) in kinds
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (claim,) = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert claim["persistentVolumeClaim"]["claimName"] == "cims-db"


async def test_the_installed_operator_scans_as_the_values_say(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    placement = {
        "nodeSelector": {"net": "internal"},
        "tolerations": [{"key": "internal", "operator": "Exists"}],
    }
    objects = await _install(
        cluster,
        {
            "image": {"repository": "registry.example/cims", "tag": "1.2"},
            "scans": {**placement, "maxRunning": 3},
        },
    )
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    config = from_env(env)  # what the operator will read: every variable parses
    assert (config.image, config.max_running, config.policy_namespace) == (
        "registry.example/cims:1.2",
        3,
        NS,
    )
    assert pod["serviceAccountName"] in {
        o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount"
    }
    (pvc,) = [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    assert config.shared_claim == pvc["metadata"]["name"]
    for name, value in env.items():
        if name.startswith("CIMS_OPERATOR_") and name not in (
            "CIMS_OPERATOR_SHARED_DIR",
            "CIMS_OPERATOR_METRICS_PORT",
        ):
            monkeypatch.setenv(name, value)  # the test keeps its own shared dir and free port
    monkeypatch.setenv("CIMS_OPERATOR_POLL_SECONDS", "0.3")
    example = yaml.safe_load((ROOT / "examples" / "01-imagescan.yaml").read_text())
    async with running_operator(cluster):
        await cluster.apply_scan(example["metadata"]["name"], example["spec"])

        async def has_job() -> bool:
            return bool(await cluster.jobs())

        await cluster.wait(has_job, "the example's Job", details=cluster.jobs)
    (job,) = await cluster.jobs()
    _validate([job])
    job_pod = job["spec"]["template"]["spec"]
    assert job_pod["containers"][0]["image"] == "registry.example/cims:1.2"
    assert job_pod["nodeSelector"] == placement["nodeSelector"]
    assert job_pod["tolerations"] == placement["tolerations"]
    (shared,) = [v for v in job_pod["volumes"] if "persistentVolumeClaim" in v]
    assert shared["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
