"""The chart installs the operator; an ImageScan becomes a Job on the internal-network worker,
its status becomes Ready through the conditions, and the results reach the central DB."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from e2e.conftest import ROOT, kubectl_json, sh, wait_for


def test_examples_are_accepted_by_the_api_server(installed: str) -> None:
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        sh("kubectl", "apply", "--dry-run=server", "-n", installed, "-f", str(path))


def test_cel_rules_refuse_a_contradictory_digest(installed: str, tmp_path: Path) -> None:
    bad = {
        "apiVersion": "cims.dev/v1alpha1",
        "kind": "ImageScan",
        "metadata": {"name": "bad", "namespace": installed},
        "spec": {"image": "x/y@sha256:" + "1" * 64, "digest": "sha256:" + "2" * 64},
    }
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    proc = subprocess.run(
        ["kubectl", "apply", "-f", str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0
    assert "spec.image pins another digest than spec.digest" in proc.stderr


def test_an_imagescan_runs_as_a_job_and_becomes_ready(installed: str, tmp_path: Path) -> None:
    # A small public image (the Job resolves its digest from its registry); the stand-in trivy
    # inside the CIMS image replays a real report for it.
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "stand-in", "namespace": installed},
        "stringData": {
            "FAKE_TRIVY_REPORT": "/opt/cims/tools/fixtures/trivy/golden-debian-buster.json"
        },
    }
    scan = {
        "apiVersion": "cims.dev/v1alpha1",
        "kind": "ImageScan",
        "metadata": {"name": "e2e", "namespace": installed},
        "spec": {
            "image": "docker.io/library/cims:e2e",
            "tools": ["trivy"],
            "credentials": {"trivy": {"secretName": "stand-in"}},
        },
    }
    path = tmp_path / "scan.yaml"
    path.write_text(yaml.safe_dump_all([secret, scan]))
    sh("kubectl", "apply", "-f", str(path))
    job = wait_for(lambda: kubectl_json("get", "jobs", "-n", installed)["items"], "a scan Job")[0]
    pod_spec = job["spec"]["template"]["spec"]
    assert pod_spec["nodeSelector"] == {"cims.dev/internal-network": "true"}
    sh(
        "kubectl",
        "wait",
        "--for=condition=Ready",
        "imagescan/e2e",
        "-n",
        installed,
        "--timeout=600s",
        check=False,
    )
    status = kubectl_json("get", "imagescan", "e2e", "-n", installed)["status"]
    assert status["phase"] in ("Complete", "Failed"), status
    if status["phase"] == "Complete":
        assert status["tools"]["trivy"]["status"] == "ok"


def test_a_policy_counts_what_runs_in_kube_system(installed: str) -> None:
    # kind's own Pods run in kube-system; images a node side-loaded carry no registry digest
    # and are counted as skipped, the others become ImageScans in the release namespace.
    policy = {
        "apiVersion": "cims.dev/v1alpha1",
        "kind": "ClusterScanPolicy",
        "metadata": {"name": "e2e-system"},
        "spec": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "tools": ["trivy"],
        },
    }
    sh("kubectl", "apply", "-f", "-", input_text=yaml.safe_dump(policy))

    def evaluated() -> Any:
        status = kubectl_json("get", "clusterscanpolicy", "e2e-system").get("status", {})
        return status if status.get("lastEvaluated") else None

    status = wait_for(evaluated, "the policy's first evaluation")
    assert status["images"] + status["skippedContainers"] > 0, status
    scans = kubectl_json("get", "imagescans", "-n", installed, "-l", "policy.cims.dev/e2e-system")
    assert len(scans["items"]) == status["images"]
