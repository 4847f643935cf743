"""ClusterScanPolicy: scan what runs. Pure functions from Pods, Namespaces and policies to the
ImageScans that should exist (one per unique digest, cluster-wide), and the policy's status.

The kopf layer (handlers.py) feeds these functions from its indexes and applies the plan.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from cims.errors import InputError
from cims.k8s.resource import (
    CREDENTIALS_RULE,
    DEFAULT_TOOLS,
    GROUP,
    VERSION,
    Credentials,
    Placement,
    SeverityWord,
    Tool,
    crd_document,
    interval_seconds,
    structural,
)
from cims.k8s.status import condition
from cims.model import ImageRef, Severity

KIND = "ClusterScanPolicy"
PLURAL = "clusterscanpolicies"
SINGULAR = "clusterscanpolicy"
SHORT_NAMES = ("csp",)

WorkloadKind = Literal["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod"]
ALL_KINDS: tuple[WorkloadKind, ...] = get_args(WorkloadKind)
TOOL_ORDER: tuple[Tool, ...] = get_args(Tool)

LABEL_SOURCE = f"{GROUP}/source"  # "policy" on every ImageScan a policy made
LABEL_DIGEST = f"{GROUP}/digest"
LABEL_POLICY_PREFIX = f"policy.{GROUP}/"  # one label per linked policy: policy.cims.dev/NAME
ANNOTATION_POLICIES = f"{GROUP}/policies"
ANNOTATION_WORKLOADS = f"{GROUP}/workloads"
ANNOTATION_RETIRE = f"{GROUP}/retire"  # Delete or Keep, from the policies that selected it
LABEL_RETIRED = f"{GROUP}/retired"
MAX_WORKLOADS_SHOWN = 20


class Requirement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=317)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None


class LabelSelector(BaseModel):
    """A Kubernetes label selector; empty selects everything."""

    model_config = ConfigDict(extra="forbid")

    matchLabels: dict[str, str] | None = None
    matchExpressions: list[Requirement] | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in (self.matchLabels or {}).items()):
            return False
        for req in self.matchExpressions or []:
            present = req.key in labels
            values = set(req.values or [])
            ok = {
                "In": present and labels.get(req.key) in values,
                "NotIn": not present or labels.get(req.key) not in values,
                "Exists": present,
                "DoesNotExist": not present,
            }[req.operator]
            if not ok:
                return False
        return True


class ClusterScanPolicySpec(BaseModel):
    """Which running workloads to scan, with which tools, how often, and what fails."""

    model_config = ConfigDict(extra="forbid")

    namespaceSelector: LabelSelector | None = Field(
        None, description="Namespaces by label; unset selects every namespace."
    )
    excludeNamespaces: list[str] = Field(
        default_factory=list, description="Names or shell patterns (kube-*) never scanned."
    )
    workloadKinds: list[WorkloadKind] = Field(
        default_factory=lambda: list(ALL_KINDS),
        min_length=1,
        description="Kinds of the Pods' controllers (Job also covers the Jobs of CronJobs).",
    )
    tools: list[Tool] = Field(default_factory=lambda: list(DEFAULT_TOOLS), min_length=1)
    failOn: SeverityWord | None = Field(None, description="Severity that makes an image failing.")
    rescanInterval: str = Field(
        "24h", pattern=r"^[0-9]+(s|m|h|d)$", description="Rescan period of every image."
    )
    retire: Literal["Delete", "Keep"] = Field(
        "Delete", description="What happens to the scan of an image that no longer runs."
    )
    timeout: int = Field(900, ge=60, le=86400)
    credentials: dict[Tool, Credentials] | None = None
    placement: Placement | None = None
    suspend: bool = False

    def selects_namespace(self, name: str, labels: Mapping[str, str]) -> bool:
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in self.excludeNamespaces):
            return False
        return self.namespaceSelector is None or self.namespaceSelector.matches(labels)


@dataclass(frozen=True)
class Policy:
    name: str
    uid: str
    spec: ClusterScanPolicySpec


# --- Pods -> running images -----------------------------------------------------------------------


@dataclass(frozen=True)
class RunningImage:
    digest: str
    image: str  # registry/repository[:tag], the name the ImageScan scans
    workload: str  # namespace/Kind/name


def workload_of(pod: Mapping[str, Any]) -> tuple[WorkloadKind | str, str]:
    """(kind, name) of the controller that runs a Pod: a ReplicaSet made by a Deployment counts
    as that Deployment; a Pod with no controller is a bare Pod."""
    meta = pod.get("metadata") or {}
    owners = [o for o in meta.get("ownerReferences") or [] if o.get("controller")]
    if not owners:
        return "Pod", str(meta.get("name", ""))
    owner = owners[0]
    kind, name = str(owner.get("kind", "")), str(owner.get("name", ""))
    template_hash = (meta.get("labels") or {}).get("pod-template-hash")
    if kind == "ReplicaSet" and template_hash and name.endswith(f"-{template_hash}"):
        return "Deployment", name[: -len(template_hash) - 1]
    return kind, name


def _repo_digest(image_id: str) -> tuple[str, str] | None:
    """(repository, digest) from a container status' imageID, or None when it has no
    registry digest (a bare image id: a locally built or side-loaded image)."""
    text = image_id.split("://", 1)[-1]
    if "@" not in text:
        return None
    repo, _, digest = text.rpartition("@")
    return (repo, digest) if repo and digest.startswith("sha256:") else None


def pod_images(pod: Mapping[str, Any]) -> tuple[list[RunningImage], int]:
    """The images a Pod runs (containers and init containers) and how many it runs without a
    registry digest (those cannot be scanned by digest and are counted as skipped)."""
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return [], 0
    meta = pod.get("metadata") or {}
    kind, name = workload_of(pod)
    where = f"{meta.get('namespace', '')}/{kind}/{name}"
    found: list[RunningImage] = []
    skipped = 0
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        parsed = _repo_digest(str(cs.get("imageID") or ""))
        if parsed is None:
            skipped += bool(cs.get("imageID"))
            continue
        repo, digest = parsed
        try:
            ref = ImageRef.parse(f"{repo}@{digest}")
            named = ImageRef.parse(str(cs.get("image") or repo))
        except InputError:
            skipped += 1
            continue
        tag = named.tag if named.name == ref.name else None
        image = f"{ref.name}:{tag}" if tag else ref.name
        found.append(RunningImage(digest=ref.digest or digest, image=image, workload=where))
    return found, skipped


def summarize_pod(pod: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the operator keeps of a Pod (in its index): namespace, workload kind, images."""
    images, skipped = pod_images(pod)
    if not images and not skipped:
        return None
    kind, _ = workload_of(pod)
    return {
        "namespace": (pod.get("metadata") or {}).get("namespace", ""),
        "kind": kind,
        "images": [[i.digest, i.image, i.workload] for i in images],
        "skipped": skipped,
    }


# --- Plan: the ImageScans that should exist -------------------------------------------------------


@dataclass
class Wanted:
    """One unique digest that runs, and the policies that select it."""

    digest: str
    images: set[str] = field(default_factory=set)
    workloads: set[str] = field(default_factory=set)
    policies: dict[str, Policy] = field(default_factory=dict)


@dataclass
class Plan:
    wanted: dict[str, Wanted]  # by digest
    skipped: dict[str, int]  # policy name -> containers without a registry digest


def plan(
    policies: Iterable[Policy],
    pods: Iterable[Mapping[str, Any]],
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> Plan:
    """Every unique running digest each active policy selects, de-duplicated cluster-wide.

    ``pods`` are :func:`summarize_pod` results; a namespace missing from ``namespace_labels``
    (deleted, or not listable) is not selected.
    """
    active = [p for p in sorted(policies, key=lambda p: p.name) if not p.spec.suspend]
    wanted: dict[str, Wanted] = {}
    skipped = {p.name: 0 for p in active}
    for pod in pods:
        ns = str(pod["namespace"])
        labels = namespace_labels.get(ns)
        if labels is None:
            continue
        for policy in active:
            if pod["kind"] not in policy.spec.workloadKinds:
                continue
            if not policy.spec.selects_namespace(ns, labels):
                continue
            skipped[policy.name] += int(pod["skipped"])
            for digest, image, workload in pod["images"]:
                entry = wanted.setdefault(digest, Wanted(digest))
                entry.images.add(image)
                entry.workloads.add(workload)
                entry.policies[policy.name] = policy
    return Plan(wanted, skipped)


def scan_name(digest: str) -> str:
    """The ImageScan of one digest, whatever policies select it: the same digest, one name."""
    return f"sha256-{digest.removeprefix('sha256:')[:16]}"


def policy_label(name: str) -> str:
    """The label that links an ImageScan to a policy (label names are at most 63 characters)."""
    if len(name) > 63:
        name = f"{name[:52]}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"
    return LABEL_POLICY_PREFIX + name


def merged_spec(want: Wanted) -> dict[str, Any]:
    """The ImageScan spec for a digest several policies may select: every policy's tools, the
    strictest failOn, the shortest rescan interval, the longest timeout; credentials and
    placement from the policies in name order (the first that sets one wins)."""
    specs = [want.policies[n].spec for n in sorted(want.policies)]
    tools = {t for s in specs for t in s.tools}
    thresholds = [s.failOn for s in specs if s.failOn]
    credentials: dict[str, Any] = {}
    for s in specs:
        for tool, cred in (s.credentials or {}).items():
            if tool in tools:
                credentials.setdefault(tool, cred.model_dump())
    placement = next((s.placement for s in specs if s.placement), None)
    out: dict[str, Any] = {
        "image": sorted(want.images)[0],
        "digest": want.digest,
        "tools": [t for t in TOOL_ORDER if t in tools],
        "timeout": max(s.timeout for s in specs),
        "rescanInterval": min((s.rescanInterval for s in specs), key=interval_seconds),
    }
    if thresholds:
        out["failOn"] = min(thresholds, key=lambda w: Severity(w.upper()).rank)
    if credentials:
        out["credentials"] = credentials
    if placement:
        out["placement"] = placement.model_dump(exclude_none=True)
    return out


def retire_of(want: Wanted) -> str:
    """Keep when any selecting policy says Keep: history is never deleted against a wish."""
    keep = any(p.spec.retire == "Keep" for p in want.policies.values())
    return "Keep" if keep else "Delete"


def build_imagescan(want: Wanted, namespace: str) -> dict[str, Any]:
    """The ImageScan a policy makes for one running digest, owned by every policy that selects
    it (the garbage collector deletes it with the last of them)."""
    names = sorted(want.policies)
    workloads = sorted(want.workloads)
    shown = workloads[:MAX_WORKLOADS_SHOWN]
    if len(workloads) > len(shown):
        shown.append(f"+{len(workloads) - len(shown)} more")
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ImageScan",
        "metadata": {
            "name": scan_name(want.digest),
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "cims-operator",
                LABEL_SOURCE: "policy",
                LABEL_DIGEST: want.digest.removeprefix("sha256:")[:63],
                **{policy_label(n): "true" for n in names},
            },
            "annotations": {
                ANNOTATION_POLICIES: ",".join(names),
                ANNOTATION_WORKLOADS: ", ".join(shown),
                ANNOTATION_RETIRE: retire_of(want),
            },
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": KIND,
                    "name": n,
                    "uid": want.policies[n].uid,
                }
                for n in names
            ],
        },
        "spec": merged_spec(want),
    }


@dataclass(frozen=True)
class Change:
    action: Literal["create", "patch", "delete"]
    name: str
    body: dict[str, Any]


def changes(
    wanted: Mapping[str, Wanted], existing: Mapping[str, Mapping[str, Any]], namespace: str
) -> list[Change]:
    """What to create, patch (relink, respec) or delete so that the policy-made ImageScans in
    ``namespace`` match the plan. ``existing`` maps names to the ImageScans (metadata + spec)
    the operator sees. An image that no longer runs is deleted when every policy that selected
    it says retire: Delete; otherwise it is kept, unlinked, and no longer rescanned."""
    out: list[Change] = []
    for want in wanted.values():
        body = build_imagescan(want, namespace)
        name = body["metadata"]["name"]
        have = existing.get(name)
        if have is None:
            out.append(Change("create", name, body))
            continue
        patch = _difference(have, body)
        if patch:
            out.append(Change("patch", name, patch))
    wanted_names = {scan_name(d) for d in wanted}
    for name, have in sorted(existing.items()):
        if name in wanted_names:
            continue
        meta = have.get("metadata") or {}
        linked = [k for k in meta.get("labels") or {} if k.startswith(LABEL_POLICY_PREFIX)]
        if not linked:
            continue  # retired and kept earlier
        retire = (meta.get("annotations") or {}).get(ANNOTATION_RETIRE, "Delete")
        if retire == "Delete":
            out.append(Change("delete", name, {}))
            continue
        out.append(
            Change(
                "patch",
                name,
                {
                    "metadata": {
                        "labels": {**dict.fromkeys(linked), LABEL_RETIRED: "true"},
                        "ownerReferences": [],
                    },
                    "spec": {"rescanInterval": None},
                },
            )
        )
    return out


def _difference(have: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch from ``have`` to ``body`` (labels, annotations, owners, spec), or {}."""
    meta_have = have.get("metadata") or {}
    meta_want = body["metadata"]
    patch: dict[str, Any] = {}
    labels_have = dict(meta_have.get("labels") or {})
    labels = {k: v for k, v in meta_want["labels"].items() if labels_have.get(k) != v}
    for key in labels_have:
        stale = key.startswith(LABEL_POLICY_PREFIX) or key == LABEL_RETIRED
        if stale and key not in meta_want["labels"]:
            labels[key] = None
    annotations_have = meta_have.get("annotations") or {}
    annotations = {
        k: v for k, v in meta_want["annotations"].items() if annotations_have.get(k) != v
    }
    meta: dict[str, Any] = {}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    owners = [(o.get("name"), o.get("uid")) for o in meta_have.get("ownerReferences") or []]
    if owners != [(o["name"], o["uid"]) for o in meta_want["ownerReferences"]]:
        meta["ownerReferences"] = meta_want["ownerReferences"]
    if meta:
        patch["metadata"] = meta
    spec_have = dict(have.get("spec") or {})
    spec_want = body["spec"]
    if any(spec_have.get(k) != v for k, v in spec_want.items()) or set(spec_have) - set(
        spec_want
    ) - {"suspend"}:
        patch["spec"] = {**dict.fromkeys(set(spec_have) - set(spec_want)), **spec_want}
    return patch


# --- Status -----------------------------------------------------------------------------------

_COUNTED = ("critical", "high", "medium", "low", "negligible", "unknown")


def policy_status(
    name: str,
    scans: Iterable[Mapping[str, Any]],
    *,
    images: int,
    skipped: int,
    generation: int | None,
    evaluated_at: str,
    fail_on: str | None,
) -> dict[str, Any]:
    """Compliance of one policy, from the status of the ImageScans linked to it.

    ``scans`` are ImageScans (name, spec.image, status); ``images`` the running digests the
    policy selects now.
    """
    totals = dict.fromkeys(_COUNTED, 0)
    scanned = failing = failed = 0
    oldest: str | None = None
    failing_images: list[dict[str, Any]] = []
    for scan in scans:
        status = scan.get("status") or {}
        phase = status.get("phase")
        if phase == "Failed":
            failed += 1
            continue
        if phase != "Complete":
            continue
        scanned += 1
        summary = status.get("summary") or {}
        for key in _COUNTED:
            totals[key] += int(summary.get(key, 0))
        finished = status.get("finishedAt")
        if finished and (oldest is None or finished < oldest):
            oldest = finished
        if status.get("failing"):
            failing += 1
            failing_images.append(
                {
                    "imageScan": scan.get("name"),
                    "image": (scan.get("spec") or {}).get("image"),
                    "digest": status.get("digest"),
                    "critical": int(summary.get("critical", 0)),
                    "high": int(summary.get("high", 0)),
                }
            )
    failing_images.sort(key=lambda f: (-f["critical"], -f["high"], str(f["image"])))
    pending = max(images - scanned - failed, 0)
    if pending:
        ready = (False, "ScansPending", f"{pending} of {images} images not scanned yet")
    else:
        ready = (True, "Evaluated", f"{images} running images, {scanned} scanned")
    if failing:
        compliant = (
            False,
            "ImagesFailing",
            f"{failing} of {images} images have findings at or above {fail_on}",
        )
    elif pending or failed:
        compliant = (False, "NotAllScanned", f"{pending} pending, {failed} failed scans")
    else:
        compliant = (True, "Compliant", f"{scanned} images scanned, none failing")
    return {
        "observedGeneration": generation,
        "policy": name,
        "lastEvaluated": evaluated_at,
        "images": images,
        "scanned": scanned,
        "failing": failing,
        "failedScans": failed,
        "pending": pending,
        "skippedContainers": skipped,
        "summary": totals,
        "oldestScan": oldest,
        "failingImages": failing_images[:20],
        "conditions": [
            condition("Ready", ready[0], ready[1], ready[2], generation),
            condition("Compliant", compliant[0], compliant[1], compliant[2], generation),
        ],
    }


# --- CRD generation ---------------------------------------------------------------------------


def spec_schema() -> dict[str, Any]:
    raw = ClusterScanPolicySpec.model_json_schema()
    spec = structural(raw, raw.get("$defs", {}))
    spec["properties"]["tools"]["default"] = list(DEFAULT_TOOLS)
    spec["properties"]["workloadKinds"]["default"] = list(ALL_KINDS)
    for key in ("tools", "workloadKinds", "excludeNamespaces"):
        spec["properties"][key]["x-kubernetes-list-type"] = "set"
    spec["x-kubernetes-validations"] = [dict(CREDENTIALS_RULE)]
    return spec


def crd() -> dict[str, Any]:
    """The CustomResourceDefinition of ClusterScanPolicy (cluster-scoped)."""
    columns = [
        ("Images", ".status.images", "integer"),
        ("Scanned", ".status.scanned", "integer"),
        ("Failing", ".status.failing", "integer"),
        ("Critical", ".status.summary.critical", "integer"),
        ("High", ".status.summary.high", "integer"),
        ("Age", ".metadata.creationTimestamp", "date"),
    ]
    return crd_document(
        kind=KIND,
        plural=PLURAL,
        singular=SINGULAR,
        short_names=SHORT_NAMES,
        scope="Cluster",
        columns=columns,
        spec=spec_schema(),
    )
