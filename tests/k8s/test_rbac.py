"""The chart's RBAC rules cover every API call the operator makes in these tests, and no more."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.k8s.conftest import Cluster, running_operator
from tests.k8s.pods import web

FILES = Path(__file__).parents[2] / "charts" / "cims" / "files"
OPERATOR_AGENTS = ("kopf/", "OpenAPI-Generator/")  # kopf's own client and the kubernetes client
VERBS = {
    "LIST": "list",
    "WATCH": "watch",
    "FETCH": "get",
    "CREATE": "create",
    "UPDATE": "patch",
    "DELETE": "delete",
}


def _granted() -> set[tuple[str, str, str]]:
    out = set()
    for name in ("rbac-rules.yaml", "rbac-cluster-rules.yaml", "rbac-policy-namespace-rules.yaml"):
        for rule in yaml.safe_load((FILES / name).read_text()):
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    out |= {(group, resource, verb) for verb in rule["verbs"]}
    return out


async def test_rbac_rules_equal_the_operators_calls(cluster: Cluster) -> None:
    async with running_operator(cluster):
        await cluster.apply_scan(
            "app", {"image": "registry.internal/team/app:1", "tools": ["trivy"]}
        )
        await cluster.wait_phase("app", "Scanning")
        (job,) = await cluster.jobs()
        await cluster.set_job_status(
            job["metadata"]["name"],
            {"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "X"}]},
        )
        await cluster.wait_phase("app", "Failed")  # reads the pods, posts an Event
        # an ImageScan an older CIMS left with kopf's finalizer: removed (patches the object)
        await cluster.apply_scan(
            "old",
            {"image": "registry.internal/team/app:2", "tools": ["trivy"], "suspend": True},
            finalizers=["kopf.zalando.org/KopfFinalizerMarker"],
        )

        async def released() -> bool:
            return not (await cluster.scan("old"))["metadata"].get("finalizers")

        await cluster.wait(
            released, "the old finalizer removed", details=lambda: cluster.scan("old")
        )
        await cluster.request("DELETE", "/apis/cims.dev/v1alpha1/namespaces/scans/imagescans/old")
        # a policy: reads namespaces and pods, creates an ImageScan, retires it, writes status
        await cluster.add_namespace("prod", {"env": "prod"})
        await cluster.add_pod(web("prod", "web-1"))
        await cluster.apply_policy(  # an older CIMS's, with kopf's finalizer: kopf removes it
            "prod", {"tools": ["trivy"]}, finalizers=["kopf.zalando.org/KopfFinalizerMarker"]
        )

        async def count(n: int) -> bool:
            return len(await cluster.scans()) == n

        await cluster.wait(lambda: count(2), "the policy's ImageScan", details=cluster.scans)
        await cluster.delete_pod("prod", "web-1")
        await cluster.wait(lambda: count(1), "the ImageScan retired", details=cluster.scans)

        async def reported() -> bool:
            return (await cluster.policy("prod")).get("status", {}).get("images") == 0

        await cluster.wait(reported, "the policy's status", details=lambda: cluster.policy("prod"))
    used = set()
    for request in cluster.kmock:
        agent = request.headers.get("User-Agent", "")
        if not agent.startswith(OPERATOR_AGENTS) or request.resource is None:
            continue
        if request.resource.plural is None:  # API discovery: allowed to every account
            continue
        resource = request.resource.plural
        if request.url.path.endswith("/status"):
            resource += "/status"
        verb = VERBS[request.action.name]
        used.add((request.resource.group or "", resource, verb))
    assert used == _granted()
