"""The scan Job for an ImageScan: a pure function, compared with golden YAML in the tests."""

from __future__ import annotations

import hashlib
from typing import Any

from cims.k8s.config import OperatorConfig
from cims.k8s.resource import GROUP, KIND, VERSION, ImageScanSpec, Placement

MANAGED_BY = "cims-operator"
LABEL_SCAN = f"{GROUP}/imagescan"
ANNOTATION_SCAN_ID = f"{GROUP}/scan-id"
IMAGE_USER = 10001
JOB_OVERHEAD_S = 120
SCRATCH = "/tmp"  # noqa: S108 (an emptyDir of the Job's own pod: the root FS is read-only)  # registry resolution, SBOM, storing: on top of the tools' timeout


def scan_id(namespace: str, name: str, uid: str | None, generation: int | None, run: int) -> str:
    """Deterministic id of one scan of an ImageScan: the same inputs, the same Job name."""
    key = f"{namespace}/{name}/{uid}/{generation}/{run}".encode()
    return hashlib.sha256(key).hexdigest()[:12]


def job_name(name: str, sid: str) -> str:
    return f"cims-{name[:44].rstrip('-.')}-{sid}"


def incoming_db(sid: str) -> str:
    """Where the Job writes its own DB, renamed into place only when complete."""
    return f"/shared/incoming/{sid}.db"


def _placement(spec: ImageScanSpec, config: OperatorConfig) -> Placement:
    mine = spec.placement or Placement()
    base = config.placement
    return Placement(
        **{
            field: getattr(mine, field)
            if getattr(mine, field) is not None
            else getattr(base, field)
            for field in Placement.model_fields
        }
    )


def build_job(
    *,
    name: str,
    namespace: str,
    uid: str | None,
    spec: ImageScanSpec,
    sid: str,
    config: OperatorConfig,
) -> dict[str, Any]:
    labels = {
        "app.kubernetes.io/name": "cims-scan",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        LABEL_SCAN: name,
    }
    args = ["scan", spec.image, "--tools", ",".join(spec.tools), "--timeout", str(spec.timeout)]
    if spec.digest:
        args += ["--digest", spec.digest]
    args += ["--format", "json", "--db", incoming_db(sid), "--atomic-db"]
    where = _placement(spec, config)
    container: dict[str, Any] = {
        "name": "cims",
        "image": config.image,
        "args": args,
        # the last lines the scan printed become the pod's termination message on failure
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "env": [{"name": "HOME", "value": SCRATCH}, {"name": "TMPDIR", "value": SCRATCH}],
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "shared", "mountPath": "/shared"},
            {"name": "tmp", "mountPath": SCRATCH},
        ],
    }
    secrets = [
        {"secretRef": {"name": cred.secretName}}
        for tool, cred in sorted((spec.credentials or {}).items())
        if tool in spec.tools
    ]
    if secrets:
        container["envFrom"] = secrets
    if where.resources:
        container["resources"] = where.resources
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": IMAGE_USER,
            "runAsGroup": IMAGE_USER,
            "fsGroup": IMAGE_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "shared", "persistentVolumeClaim": {"claimName": config.shared_claim}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    for field in (
        "nodeSelector",
        "tolerations",
        "affinity",
        "serviceAccountName",
        "imagePullSecrets",
    ):
        value = getattr(where, field)
        if value:
            pod[field] = value
    metadata: dict[str, Any] = {
        "name": job_name(name, sid),
        "namespace": namespace,
        "labels": labels,
        "annotations": {ANNOTATION_SCAN_ID: sid},
    }
    if uid:
        metadata["ownerReferences"] = [
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": name,
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": config.backoff_limit,
            "activeDeadlineSeconds": spec.timeout + JOB_OVERHEAD_S,
            "ttlSecondsAfterFinished": config.job_ttl_s,
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
        },
    }
