"""ClusterScanPolicy: running Pods become one ImageScan per unique digest (pure functions, then
the operator against kmock)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cims.k8s.policy import (
    ClusterScanPolicySpec,
    Policy,
    build_imagescan,
    changes,
    plan,
    pod_images,
    policy_label,
    policy_status,
    scan_name,
    summarize_pod,
    workload_of,
)
from cims.k8s.status import condition, keep_transitions
from cims.model import ImageRef
from cims.scanners.registry import parse_file
from cims.store.db import Store

from tests.conftest import FIXTURES
from tests.k8s.conftest import NS, Cluster, running_operator
from tests.k8s.pods import DB, PODS, TOOL, WEB, pod, web

ROOT = Path(__file__).parents[2]
NAMESPACES = {
    "prod": {"env": "prod"},
    "dev": {"env": "dev"},
    "kube-system": {"kubernetes.io/metadata.name": "kube-system"},
}


def _policy(name: str, **spec: Any) -> Policy:
    return Policy(name, f"uid-{name}", ClusterScanPolicySpec.model_validate(spec))


# --- pure --------------------------------------------------------------------------------------


def test_workload_kind_follows_the_controller() -> None:
    assert workload_of(PODS[0]) == ("Deployment", "web")
    assert workload_of(PODS[2]) == ("StatefulSet", "db")
    assert workload_of(PODS[4]) == ("Pod", "tool")
    no_hash = pod("x", "p", [], owner=("ReplicaSet", "rs"))
    assert workload_of(no_hash) == ("ReplicaSet", "rs")


def test_pod_images_take_the_registry_digest_and_skip_bare_ids() -> None:
    images, skipped = pod_images(PODS[4])
    assert [(i.digest, i.image) for i in images] == [(TOOL, "registry.internal/team/tool:3")]
    assert skipped == 1
    (db,), _ = pod_images(PODS[2])
    assert (db.digest, db.image, db.workload) == (
        DB,
        "docker.io/library/postgres:16",
        "prod/StatefulSet/db",
    )
    assert pod_images(PODS[5]) == ([], 0)  # a finished Job's pod runs nothing


def test_plan_deduplicates_digests_cluster_wide_and_honours_selectors() -> None:
    pods = [s for s in map(summarize_pod, PODS) if s]
    everything = _policy("all", excludeNamespaces=["kube-*"])
    prod = _policy(
        "prod-gate",
        namespaceSelector={
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]
        },
        tools=["trivy"],
        failOn="high",
        rescanInterval="6h",
    )
    stateful = _policy("stateful", workloadKinds=["StatefulSet"], tools=["grype"])
    found = plan([everything, prod, stateful], pods, NAMESPACES)
    assert set(found.wanted) == {WEB, DB, TOOL}  # not kube-system, not the finished Job
    assert set(found.wanted[WEB].policies) == {"all", "prod-gate"}
    assert found.wanted[WEB].workloads == {"prod/Deployment/web", "dev/Deployment/web"}
    assert set(found.wanted[DB].policies) == {"all", "prod-gate", "stateful"}
    assert set(found.wanted[TOOL].policies) == {"all"}
    assert found.skipped == {"all": 1, "prod-gate": 0, "stateful": 0}
    spec = build_imagescan(found.wanted[DB], NS)["spec"]
    assert spec["tools"] == ["twistlock", "va", "trivy", "grype"]  # every policy's tools
    assert spec["failOn"] == "high"
    assert spec["rescanInterval"] == "6h"  # the shortest
    assert (spec["image"], spec["digest"]) == ("docker.io/library/postgres:16", DB)
    suspended = _policy("all", suspend=True)
    assert plan([suspended], pods, NAMESPACES).wanted == {}


KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"


def test_changes_create_then_converge_then_retire() -> None:
    pods = [s for s in map(summarize_pod, PODS) if s]
    keep = _policy("keep", namespaceSelector={"matchLabels": {"env": "dev"}}, retire="Keep")
    drop = _policy("drop", namespaceSelector={"matchLabels": {"env": "prod"}})
    found = plan([keep, drop], pods, NAMESPACES)
    first = changes(found.wanted, {}, NS)
    assert sorted((c.action, c.name) for c in first) == sorted(
        ("create", scan_name(d)) for d in (WEB, DB, TOOL)
    )
    body = next(c.body for c in first if c.name == scan_name(WEB))
    assert body["metadata"]["labels"][policy_label("keep")] == "true"
    assert [o["name"] for o in body["metadata"]["ownerReferences"]] == ["drop", "keep"]
    existing = {c.name: c.body for c in first}
    assert changes(found.wanted, existing, NS) == []  # applied: nothing more to do
    # prod stops running everything: DB (only "drop" selected it) goes, WEB is relinked
    # to "keep" alone; dev stops too: TOOL is kept, unlinked and no longer rescanned.
    later = plan([keep, drop], [summarize_pod(web("dev", "web-2"))], NAMESPACES)
    todo = {c.name: c for c in changes(later.wanted, existing, NS)}
    assert todo[scan_name(DB)].action == "delete"
    relink = todo[scan_name(WEB)].body["metadata"]
    assert relink["labels"][policy_label("drop")] is None
    assert [o["name"] for o in relink["ownerReferences"]] == ["keep"]
    kept = todo[scan_name(TOOL)]
    assert kept.action == "patch"
    assert kept.body["spec"] == {"rescanInterval": None}
    assert kept.body["metadata"]["labels"] == {
        policy_label("keep"): None,
        "cims.dev/retired": "true",
    }


def test_long_policy_names_still_make_valid_label_keys() -> None:
    label = policy_label("p" * 200)
    assert len(label.split("/", 1)[1]) == 63
    assert policy_label("p" * 200) != policy_label("p" * 199 + "q")


def test_policy_status_counts_scanned_failing_and_oldest() -> None:
    scans = [
        {
            "name": "sha256-a",
            "spec": {"image": "docker.io/library/nginx:1.25"},
            "status": {
                "phase": "Complete",
                "failing": True,
                "digest": WEB,
                "finishedAt": "2026-12-01T10:00:00Z",
                "summary": {"critical": 2, "high": 5, "medium": 1},
            },
        },
        {
            "name": "sha256-b",
            "spec": {"image": "docker.io/library/postgres:16"},
            "status": {
                "phase": "Complete",
                "failing": False,
                "finishedAt": "2026-12-03T10:00:00Z",
                "summary": {"low": 4},
            },
        },
        {"name": "sha256-c", "status": {"phase": "Scanning"}},
    ]
    status = policy_status(
        "p", scans, images=3, skipped=1, generation=2, evaluated_at="now", fail_on="high"
    )
    assert (status["images"], status["scanned"], status["failing"], status["pending"]) == (
        3,
        2,
        1,
        1,
    )
    assert status["summary"] == {
        "critical": 2,
        "high": 5,
        "medium": 1,
        "low": 4,
        "negligible": 0,
        "unknown": 0,
    }
    assert status["oldestScan"] == "2026-12-01T10:00:00Z"
    assert status["failingImages"][0]["image"] == "docker.io/library/nginx:1.25"
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["reason"] == "ScansPending"
    assert conditions["Compliant"]["status"] == "False"
    assert "1 of 3 images" in conditions["Compliant"]["message"]


def test_policy_example_is_valid() -> None:
    doc = yaml.safe_load((ROOT / "examples" / "03-clusterscanpolicy.yaml").read_text())
    assert (doc["kind"], doc["metadata"].get("namespace")) == ("ClusterScanPolicy", None)
    spec = ClusterScanPolicySpec.model_validate(doc["spec"])
    assert spec.selects_namespace("payments", {"cims.dev/scan": "true"})
    assert not spec.selects_namespace("kube-system", {"cims.dev/scan": "true"})


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"workloadKinds": ["CronTab"]}, "workloadKinds.0"),
        ({"rescanInterval": "daily"}, "rescanInterval"),
        ({"retire": "Archive"}, "retire"),
        (
            {"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "Has"}]}},
            "operator",
        ),
    ],
)
def test_invalid_policies_are_refused(spec: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        ClusterScanPolicySpec.model_validate(spec)


# --- the operator against kmock ------------------------------------------------------------------


def _seed(cluster: Cluster, digest: str, fixture: str) -> None:
    """A recent trivy scan of ``digest`` in the central DB (the operator reuses it)."""
    report, sha = parse_file(FIXTURES / "trivy" / fixture)
    with Store(cluster.shared / "cims.db") as central:
        central.import_reports(
            ImageRef.parse(f"docker.io/library/x:1@{digest}"), [(report, sha, fixture)]
        )


async def test_a_policy_turns_running_workloads_into_imagescans(cluster: Cluster) -> None:
    _seed(cluster, WEB, "golden-debian-buster.json")
    _seed(cluster, DB, "dd-scheme2-no-vuln-alpine314.json")
    for ns, labels in NAMESPACES.items():
        await cluster.add_namespace(ns, labels)
    for running in PODS:
        await cluster.add_pod(running)
    async with running_operator(cluster):
        await cluster.apply_policy(
            "prod",
            {
                "namespaceSelector": {"matchLabels": {"env": "prod"}},
                "tools": ["trivy"],
                "failOn": "critical",
            },
        )
        await cluster.apply_policy(  # made by an older CIMS: kopf's finalizer (for its timer)
            "everything",
            {"excludeNamespaces": ["kube-*"], "tools": ["trivy"]},
            finalizers=[KOPF_FINALIZER],
        )
        await cluster.apply_policy("broken", {"tools": ["trivy"], "failOn": "severe"})

        async def three() -> bool:
            return {s["metadata"]["name"] for s in await cluster.scans()} == {
                scan_name(WEB),
                scan_name(DB),
                scan_name(TOOL),
            }

        await cluster.wait(three, "one ImageScan per running digest", details=cluster.scans)
        web = await cluster.wait_phase(scan_name(WEB), "Complete")
        assert web["spec"] == {
            "image": "docker.io/library/nginx:1.25",
            "digest": WEB,
            "tools": ["trivy"],
            "timeout": 900,
            "rescanInterval": "24h",
            "failOn": "critical",
        }
        assert web["metadata"]["labels"][policy_label("prod")] == "true"
        assert web["metadata"]["annotations"]["cims.dev/workloads"] == (
            "dev/Deployment/web, prod/Deployment/web"
        )
        assert web["status"]["cachedFrom"]  # the seeded scan of that digest
        await cluster.wait_phase(scan_name(DB), "Complete")
        tool = await cluster.scan(scan_name(TOOL))
        assert set(tool["metadata"]["labels"]) >= {policy_label("everything")}
        assert policy_label("prod") not in tool["metadata"]["labels"]

        async def evaluated() -> bool:
            status = (await cluster.policy("prod")).get("status", {})
            return status.get("scanned") == 2

        await cluster.wait(
            evaluated, "the prod policy's status", details=lambda: cluster.policy("prod")
        )
        status = (await cluster.policy("prod"))["status"]
        assert (status["images"], status["failing"], status["pending"]) == (2, 1, 0)
        assert status["summary"]["critical"] == web["status"]["summary"]["critical"] > 0
        assert status["failingImages"][0]["imageScan"] == scan_name(WEB)
        conditions = {c["type"]: c["status"] for c in status["conditions"]}
        assert conditions == {"Ready": "True", "Compliant": "False"}
        everything = (await cluster.policy("everything"))["status"]
        assert (everything["images"], everything["skippedContainers"]) == (3, 1)
        # no finalizers: a policy stays deletable when the operator is gone; the old one lost its
        for name in ("prod", "everything"):
            assert not (await cluster.policy(name))["metadata"].get("finalizers")
        assert cluster.events("prod") == ["PolicyApplied"]  # 2 new running images, once
        (ready,) = (await cluster.policy("broken"))["status"]["conditions"]
        assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
        assert "spec.failOn" in ready["message"]

        # the tool stops running: its ImageScan is retired (deleted, the policy's default)
        await cluster.delete_pod("dev", "tool")

        async def retired() -> bool:
            return scan_name(TOOL) not in {s["metadata"]["name"] for s in await cluster.scans()}

        await cluster.wait(retired, "the retired ImageScan deleted", details=cluster.scans)
        assert len(await cluster.scans()) == 2


async def test_every_example_is_taken_up_by_the_operator(cluster: Cluster) -> None:
    """kubectl apply -f examples/: each ImageScan gets a Job or waits under the limit, the
    policy is evaluated (no Pods run here: nothing to scan, Ready and Compliant)."""
    docs = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "examples").glob("*.yaml"))]
    async with running_operator(cluster):
        for doc in docs:
            if doc["kind"] == "ImageScan":
                await cluster.apply_scan(doc["metadata"]["name"], doc["spec"])
            else:
                await cluster.apply_policy(doc["metadata"]["name"], doc["spec"])
        for doc in docs:
            name = doc["metadata"]["name"]
            if doc["kind"] == "ImageScan":

                async def taken(name: str = name) -> bool:
                    phase = (await cluster.scan(name)).get("status", {}).get("phase")
                    return phase in ("Scanning", "Pending")

                await cluster.wait(taken, f"{name} Scanning or Pending")
            else:

                async def evaluated(name: str = name) -> bool:
                    return "lastEvaluated" in (await cluster.policy(name)).get("status", {})

                await cluster.wait(evaluated, f"policy {name} evaluated")
                status = (await cluster.policy(name))["status"]
                conditions = {c["type"]: c["status"] for c in status["conditions"]}
                assert (status["images"], conditions) == (0, {"Ready": "True", "Compliant": "True"})
    jobs = await cluster.jobs()
    scans = [d for d in docs if d["kind"] == "ImageScan"]
    assert {j["metadata"]["labels"]["cims.dev/imagescan"] for j in jobs} == {
        d["metadata"]["name"] for d in scans
    }
    full = next(j for j in jobs if j["metadata"]["labels"]["cims.dev/imagescan"] == "payments")
    env_from = full["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {e["secretRef"]["name"] for e in env_from} == {
        "twistlock-scanner",
        "aqua-scanner",
        "ibm-va",
    }


def test_a_condition_keeps_its_transition_time_until_its_status_changes() -> None:
    then = "2026-01-01T00:00:00Z"
    before = [{**condition("Ready", True, "Evaluated", "3 images", 1), "lastTransitionTime": then}]
    same = keep_transitions(before, [condition("Ready", True, "Evaluated", "4 images", 2)])
    assert (same[0]["lastTransitionTime"], same[0]["message"]) == (then, "4 images")
    flipped = keep_transitions(before, [condition("Ready", False, "ScansPending", "1 left", 2)])
    assert flipped[0]["lastTransitionTime"] != then
    assert keep_transitions(None, flipped) == flipped
