"""Pods as the API server returns them, for the ClusterScanPolicy tests."""

from __future__ import annotations

from typing import Any

WEB = "sha256:" + "a1" * 32  # nginx in prod and dev
DB = "sha256:" + "b2" * 32  # postgres in prod
TOOL = "sha256:" + "c3" * 32  # a tool in dev
SYSTEM = "sha256:" + "d4" * 32  # coredns in kube-system


def pod(
    ns: str,
    name: str,
    statuses: list[tuple[str, str]],
    *,
    owner: tuple[str, str] | None = None,
    template_hash: str | None = None,
    phase: str = "Running",
) -> dict[str, Any]:
    """A Pod as the API server returns it: owner reference, and the kubelet's container
    statuses (image as written in the spec, imageID with the registry digest)."""
    meta: dict[str, Any] = {
        "name": name,
        "namespace": ns,
        "uid": f"uid-{ns}-{name}",
        "resourceVersion": "1",
        "labels": {"pod-template-hash": template_hash} if template_hash else {},
    }
    if owner:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "controller": True}
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": f"c{i}", "image": s[0]} for i, s in enumerate(statuses)]},
        "status": {
            "phase": phase,
            "containerStatuses": [
                {"name": f"c{i}", "image": image, "imageID": image_id, "ready": True}
                for i, (image, image_id) in enumerate(statuses)
            ],
        },
    }


def web(ns: str, name: str) -> dict[str, Any]:
    return pod(
        ns,
        name,
        [("nginx:1.25", f"docker.io/library/nginx@{WEB}")],  # containerd's imageID
        owner=("ReplicaSet", "web-7d4b9c"),
        template_hash="7d4b9c",
    )


PODS = [
    web("prod", "web-7d4b9c-x1"),
    web("prod", "web-7d4b9c-x2"),
    pod(
        "prod",
        "db-0",
        [("postgres:16", f"docker-pullable://postgres@{DB}")],  # dockershim's imageID
        owner=("StatefulSet", "db"),
    ),
    web("dev", "web-7d4b9c-y1"),
    pod(
        "dev",
        "tool",
        [
            ("registry.internal/team/tool:3", f"registry.internal/team/tool@{TOOL}"),
            ("local/debug:1", "sha256:" + "ee" * 32),  # side-loaded: no registry digest
        ],
    ),
    pod(
        "dev",
        "migrate-abc",
        [("registry.internal/team/tool:3", f"registry.internal/team/tool@{TOOL}")],
        owner=("Job", "migrate"),
        phase="Succeeded",
    ),
    pod(
        "kube-system",
        "coredns-5d78c9869d-abc",
        [("registry.k8s.io/coredns/coredns:v1.10.1", f"registry.k8s.io/coredns/coredns@{SYSTEM}")],
        owner=("ReplicaSet", "coredns-5d78c9869d"),
        template_hash="5d78c9869d",
    ),
]
