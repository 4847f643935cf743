"""kopf handlers: thin. Parse the ImageScan, call the builders and the engine, write status.

Change handlers (create, resume, spec change) admit a scan. One operator-wide poller moves
every ImageScan on (admits queued ones, collects finished Jobs, rescans on schedule), and one
loop applies every ClusterScanPolicy, both from kopf indexes: no per-object kopf timer, hence
no kopf finalizer (a timer needs one), so ImageScans and policies stay deletable when the
operator is gone, and each ImageScan costs one write less.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import kopf
from pydantic import ValidationError

from cims.errors import CimsError
from cims.k8s import policy as pol
from cims.k8s import status as st
from cims.k8s.client import KubeClient
from cims.k8s.config import OperatorConfig, from_env
from cims.k8s.jobs import ANNOTATION_SCAN_ID, MANAGED_BY, build_job, scan_id
from cims.k8s.merge import cached_report, incoming, merge_scan
from cims.k8s.metrics import Metrics, serve
from cims.k8s.peering import Peering, paused_by
from cims.k8s.resource import GROUP, PLURAL, VERSION, ImageScanSpec

Jobs = kopf.Index[tuple[str, str], dict[str, Any]]
Scans = kopf.Index[tuple[str, str], dict[str, Any]]
LOG = logging.getLogger("cims.operator")
CONFIG: OperatorConfig = from_env()  # read at import: it decides which handlers are registered


@dataclass
class _Shared:
    """Operator-wide state that handlers assign to. kopf gives each object's handlers a shallow
    copy of the memo: attributes assigned there stay with that object, these are seen by all."""

    poller: asyncio.Task[None] | None = None  # moves ImageScans on
    policy_loop: asyncio.Task[None] | None = None  # applies ClusterScanPolicies
    policy_changed: asyncio.Event = field(default_factory=asyncio.Event)  # re-plan now
    peering: Peering | None = None  # None: standalone
    paused: str | None = None  # why kopf's peering rule pauses the loops now


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In-cluster service account, else the kubeconfig: the kubernetes client's own rules."""
    return kopf.login_via_client(**kwargs)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    # The spec kopf last handled lives in the status, written with the status in one request,
    # instead of an annotation written to the object in a second request.
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage()
    memo.config = CONFIG
    memo.lock = asyncio.Lock()
    memo.admitted = set()
    memo.client = await asyncio.to_thread(KubeClient.connect)
    memo.metrics = Metrics()
    memo.metrics_server = (
        await serve(memo.metrics, CONFIG.metrics_port) if CONFIG.metrics_port else None
    )
    memo.shared = _Shared()
    if not settings.peering.standalone:
        memo.shared.peering = Peering(
            name=settings.peering.name,
            priority=settings.peering.priority,
            clusterwide=settings.peering.clusterwide,
            namespaces=CONFIG.namespaces,
            identity=os.environ.get("POD_ID"),  # kopf's own id when set (cims-operator sets it)
        )
    incoming(CONFIG.shared_dir, "x").parent.mkdir(parents=True, exist_ok=True)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    shared = getattr(memo, "shared", None)
    loops = [t for t in (shared.poller, shared.policy_loop) if t is not None] if shared else []
    for task in loops:
        task.cancel()
    await asyncio.gather(*loops, return_exceptions=True)
    client = getattr(memo, "client", None)
    if client is not None:
        await asyncio.to_thread(client.close)
    server = getattr(memo, "metrics_server", None)
    if server is not None:
        await server.cleanup()


@kopf.index("batch", "v1", "jobs", labels={"app.kubernetes.io/managed-by": MANAGED_BY})
def scan_jobs(
    *,
    name: str,
    namespace: str | None,
    annotations: Mapping[str, str],
    status: kopf.Status,
    **_: Any,
) -> dict[tuple[str, str], dict[str, Any]]:
    sid = annotations.get(ANNOTATION_SCAN_ID, "")
    return {(namespace or "", sid): {"name": name, **dict(status)}}


@kopf.index(GROUP, VERSION, PLURAL)
def imagescans(
    *, body: kopf.Body, name: str, namespace: str | None, **_: Any
) -> dict[tuple[str, str], dict[str, Any]]:
    """What the poller needs of each ImageScan (not its findings: the status can be large)."""
    meta = body.get("metadata") or {}
    status = {k: v for k, v in (body.get("status") or {}).items() if k not in ("findings", "kopf")}
    return {
        (namespace or "", name): {
            "apiVersion": body.get("apiVersion"),
            "kind": body.get("kind"),
            "metadata": {
                k: meta.get(k)
                for k in ("name", "namespace", "uid", "generation", "creationTimestamp")
            },
            "spec": dict(body.get("spec") or {}),
            "status": status,
        }
    }


def _job_state(jobs: kopf.Index[tuple[str, str], dict[str, Any]], key: tuple[str, str]) -> str:
    """ "none", "running", "succeeded" or "failed" for the Job of one scan id."""
    found = list(jobs.get(key, []))
    if not found:
        return "none"
    job = found[-1]
    if job.get("succeeded"):
        return "succeeded"
    conditions = job.get("conditions") or []
    if job.get("failed") and any(c.get("type") == "Failed" for c in conditions):
        return "failed"
    return "running"


def _spec_error(err: ValidationError) -> str:
    """One line naming the first invalid field of a spec."""
    first = err.errors()[0]
    where = ".".join(str(x) for x in first["loc"]) or "spec"
    return f"invalid spec.{where}: {first['msg']}"


def _parse(spec: kopf.Spec, patch: kopf.Patch, generation: int | None) -> ImageScanSpec:
    try:
        parsed = ImageScanSpec.model_validate(dict(spec))
        parsed.image_ref()
    except ValidationError as err:
        message = _spec_error(err)
        patch.status.update(st.failed("InvalidSpec", message, generation))
        raise kopf.PermanentError(message) from None
    except CimsError as err:
        patch.status.update(st.failed("InvalidSpec", str(err), generation))
        raise kopf.PermanentError(str(err)) from None
    return parsed


@dataclass(frozen=True)
class _Scan:
    """One ImageScan as a handler sees it."""

    body: kopf.Body
    spec: ImageScanSpec
    name: str
    namespace: str
    uid: str | None
    generation: int | None
    patch: kopf.Patch
    memo: kopf.Memo
    jobs: kopf.Index[tuple[str, str], dict[str, Any]]


def _wait(scan: _Scan, phase: str, reason: str, message: str) -> None:
    """Write a waiting status, unless the ImageScan already says exactly that: a queued scan
    re-checked on every poll must not cost an API call (and a new transition time) each time."""
    if not st.says(scan.body.get("status") or {}, phase, reason, message, scan.generation):
        scan.patch.status.update(st.waiting(phase, reason, message, scan.generation))


async def _admit(scan: _Scan, run: int, *, use_cache: bool = True) -> None:
    """Start a scan: reuse a cached result, adopt an existing Job, queue, or create the Job.

    A scheduled rescan never reuses a cached result: it exists to catch new CVEs.
    """
    config: OperatorConfig = scan.memo.config
    spec, patch, generation, memo = scan.spec, scan.patch, scan.generation, scan.memo
    if spec.suspend:
        _wait(scan, st.PENDING, "Suspended", "spec.suspend is true")
        return
    sid = scan_id(scan.namespace, scan.name, scan.uid, generation, run)
    if (scan.body.get("status") or {}).get("run") != run:
        patch.status["run"] = run
    if spec.digest and use_cache:
        cached = await asyncio.to_thread(
            cached_report, config.central_db, spec.digest, list(spec.tools), config.cache_ttl_s
        )
        if cached is not None:
            report, source = cached
            patch.status.update(
                st.complete(
                    report,
                    generation=generation,
                    scan_id=sid,
                    db=config.central_db,
                    top_n=config.top_n,
                    fail_on=spec.failOn,
                    started_at=st.now(),
                    cached_from=source,
                )
            )
            kopf.info(scan.body, reason="ScanCached", message=f"reused {source} of {spec.digest}")
            memo.metrics.scan("cached", "ok")
            return
    async with memo.lock:
        if _job_state(scan.jobs, (scan.namespace, sid)) != "none" or sid in memo.admitted:
            patch.status.update(st.waiting(st.SCANNING, "JobRunning", f"scan {sid}", generation))
            patch.status["scanId"] = sid
            return
        active = {
            key[1] for key in scan.jobs if _job_state(scan.jobs, key) == "running"
        } | memo.admitted
        key = f"{scan.namespace}/{scan.name}"
        if len(active) >= config.max_running:
            memo.metrics.pending.add(key)
            message = f"{len(active)} scans running, the limit is {config.max_running}"
            _wait(scan, st.PENDING, "ConcurrencyLimit", message)
            return
        job = build_job(
            name=scan.name,
            namespace=scan.namespace,
            uid=scan.uid,
            spec=spec,
            sid=sid,
            config=config,
        )
        await asyncio.to_thread(memo.client.create_job, job)
        memo.admitted.add(sid)
        memo.metrics.pending.discard(key)
        memo.metrics.scan("started", "ok")
    job_name = job["metadata"]["name"]
    patch.status.update(st.waiting(st.SCANNING, "JobCreated", f"Job {job_name}", generation))
    patch.status.update({"scanId": sid, "startedAt": st.now()})
    kopf.info(scan.body, reason="ScanStarted", message=f"Job {job_name} ({sid})")


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
async def reconcile(
    *,
    body: kopf.Body,
    spec: kopf.Spec,
    name: str,
    namespace: str | None,
    uid: str,
    meta: kopf.Meta,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: kopf.Memo,
    reason: str,
    **kwargs: Any,
) -> None:
    scan_jobs: Jobs = kwargs["scan_jobs"]  # kopf passes indexes by their names
    if memo.shared.poller is None:
        # Started here, not at startup: kopf runs change handlers only once its indexes are
        # filled, and only their context can post Kubernetes events (the task inherits it).
        memo.shared.poller = asyncio.create_task(_poll(memo, kwargs["imagescans"], scan_jobs))
    generation = meta.get("generation")
    parsed = _parse(spec, patch, generation)
    run = int(status.get("run", 0))
    if reason == "update":
        run += 1  # a spec change starts a new scan
    elif reason == "resume" and status.get("phase") in (st.COMPLETE, st.FAILED):
        return  # nothing to redo after an operator restart
    scan = _Scan(body, parsed, name, namespace or "", uid, generation, patch, memo, scan_jobs)
    await _admit(scan, run)


async def _poll(memo: kopf.Memo, scans: Scans, scan_jobs: Jobs) -> None:
    """Every poll interval, move every ImageScan on, oldest first (queued scans start in the
    order they were created). One failing ImageScan is logged and does not stop the others."""
    while True:
        await asyncio.sleep(memo.config.poll_s)
        if await _paused(memo):
            continue
        # A scan counts as admitted only until the Jobs index shows its Job; from then on the
        # index counts it while it runs. Otherwise an ImageScan deleted while its Job ran would
        # hold its slot for ever.
        memo.admitted.difference_update({sid for _, sid in scan_jobs})
        found = [body for values in scans.values() for body in values]
        found.sort(
            key=lambda b: (
                b["metadata"].get("creationTimestamp") or "",
                b["metadata"].get("namespace") or "",
                b["metadata"].get("name") or "",
            )
        )
        for body in found:
            meta = body["metadata"]
            try:
                await _progress_one(body, memo, scan_jobs)
            except Exception as err:  # one ImageScan must not stop the poller
                LOG.warning(
                    "ImageScan %s/%s: %s", meta.get("namespace"), meta.get("name"), str(err)[:300]
                )


async def _paused(memo: kopf.Memo) -> bool:
    """Whether kopf's peering rule pauses this operator (kopf pauses its handlers itself, the
    poller asks). Unreadable peering objects pause it too: acting twice is worse than late."""
    shared: _Shared = memo.shared
    if shared.peering is None:
        return False
    peering = shared.peering
    try:
        statuses = await asyncio.to_thread(memo.client.peering_statuses, peering)
        now = datetime.now(UTC)
        reasons = [paused_by(s, peering.priority, peering.identity, now) for s in statuses]
        reason = next((r for r in reasons if r), None)
    except Exception as err:  # the API or the object unreadable
        reason = f"peering {peering.name!r} unreadable: {str(err)[:200]}"
    if reason != shared.paused:
        if reason:
            LOG.info("CIMS's loops paused (kopf peering): %s", reason)
        else:
            LOG.info("CIMS's loops resumed (kopf peering)")
        shared.paused = reason
    return reason is not None


async def _progress_one(body: dict[str, Any], memo: kopf.Memo, scan_jobs: Jobs) -> None:
    """Move one ImageScan on and write what changed to its status (one request, if any)."""
    meta = body["metadata"]
    patch = kopf.Patch()
    await progress(body, patch, memo, scan_jobs)
    if patch:
        ns, name = meta.get("namespace") or "", meta["name"]
        await asyncio.to_thread(memo.client.patch_status, PLURAL, name, dict(patch), ns)


async def progress(
    raw: dict[str, Any], patch: kopf.Patch, memo: kopf.Memo, scan_jobs: Jobs
) -> None:
    """Move a scan on (what the imagescans index keeps of it): admit queued ones, collect
    finished Jobs, rescan on schedule. What changes goes into ``patch``."""
    body = kopf.Body(cast(kopf.RawBody, raw))
    meta, spec, status = raw["metadata"], raw["spec"], raw["status"]
    name, namespace, uid = meta["name"], meta.get("namespace"), meta.get("uid")
    phase = status.get("phase")
    generation = meta.get("generation")
    if phase in (None, st.FAILED) and status.get("conditions") is None:
        return  # the create handler has not run yet
    try:
        parsed = ImageScanSpec.model_validate(dict(spec))
    except ValidationError:
        return
    run = int(status.get("run", 0))
    scan = _Scan(body, parsed, name, namespace or "", uid, generation, patch, memo, scan_jobs)
    if phase == st.PENDING:
        await _admit(scan, run)
        return
    if phase == st.COMPLETE:
        period = parsed.rescan_seconds()
        finished = status.get("finishedAt")
        if period and finished and _age_s(finished) >= period:
            kopf.info(body, reason="Rescan", message=f"rescanInterval {parsed.rescanInterval}")
            await _admit(scan, run + 1, use_cache=False)
        return
    if phase != st.SCANNING:
        return
    ns = scan.namespace
    sid = str(status.get("scanId") or scan_id(ns, name, uid, generation, run))
    state = _job_state(scan_jobs, (ns, sid))
    if state == "running" or (state == "none" and sid in memo.admitted):
        return
    memo.admitted.discard(sid)
    if state == "none":  # the Job is gone before it finished (deleted by someone)
        await _admit(scan, run)
        return
    if state == "failed":
        job = list(scan_jobs.get((ns, sid), []))[-1]
        reason, message = await asyncio.to_thread(memo.client.failure_of, ns, job)
        patch.status.update(st.failed(reason, message, generation))
        kopf.warn(body, reason="ScanFailed", message=message)
        memo.metrics.scan("failed", reason)
        return
    await _collect(scan, sid, status)


async def _collect(scan: _Scan, sid: str, status: Mapping[str, Any]) -> None:
    """The Job of scan ``sid`` succeeded: merge its results into the central DB, complete."""
    memo, patch, body, generation = scan.memo, scan.patch, scan.body, scan.generation
    scan_db = incoming(memo.config.shared_dir, sid)
    if not scan_db.exists():
        message = f"the Job succeeded but wrote no results at {scan_db}"
        patch.status.update(st.failed("NoResults", message, generation))
        kopf.warn(body, reason="ScanFailed", message=message)
        return
    try:
        report = await asyncio.to_thread(merge_scan, memo.config.central_db, scan_db)
    except CimsError as err:
        patch.status.update(st.failed("MergeFailed", str(err), generation))
        kopf.warn(body, reason="ScanFailed", message=str(err))
        return
    patch.status.update(
        st.complete(
            report,
            generation=generation,
            scan_id=sid,
            db=memo.config.central_db,
            top_n=memo.config.top_n,
            fail_on=scan.spec.failOn,
            started_at=status.get("startedAt"),
        )
    )
    scan_db.unlink(missing_ok=True)
    done = patch.status
    memo.metrics.scan("complete", "failing" if done.get("failing") else "ok")
    started = status.get("startedAt")
    memo.metrics.finished(
        {k: v for k, v in done["summary"].items() if k not in ("total", "foundBySeveralTools")},
        _age_s(started) if started else None,
    )
    kopf.info(
        body,
        reason="ScanComplete",
        message=f"{report.summary.findings} findings, tools {status.get('toolsSummary', '')}",
    )


def _age_s(stamp: str) -> float:
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (datetime.now(UTC) - when).total_seconds()


# --- ClusterScanPolicy: scan what runs (cluster-wide mode only: it reads every namespace) ---------

if not CONFIG.namespaces:

    @kopf.index("", "v1", "pods")
    def running_pods(
        *, body: kopf.Body, namespace: str | None, name: str, **_: Any
    ) -> dict[tuple[str, str], dict[str, Any]] | None:
        summary = pol.summarize_pod(body)
        return {(namespace or "", name): summary} if summary else None

    @kopf.index(GROUP, VERSION, PLURAL, labels={pol.LABEL_SOURCE: "policy"})
    def policy_scans(
        *, body: kopf.Body, name: str, namespace: str | None, **_: Any
    ) -> dict[str, dict[str, Any]]:
        meta = body.get("metadata") or {}
        kept = {k: meta.get(k) or {} for k in ("labels", "annotations")}
        kept["ownerReferences"] = meta.get("ownerReferences") or []
        return {
            name: {
                "name": name,
                "namespace": namespace,
                "metadata": kept,
                "spec": dict(body.get("spec") or {}),
                "status": dict(body.get("status") or {}),
            }
        }

    @kopf.index(GROUP, VERSION, pol.PLURAL)
    def scan_policies(
        *, name: str, uid: str, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, **_: Any
    ) -> dict[str, Any]:
        return {
            name: {
                "name": name,
                "uid": uid,
                "generation": meta.get("generation"),
                "spec": dict(spec),
                "conditions": list(status.get("conditions") or []),
            }
        }

    @kopf.on.resume(GROUP, VERSION, pol.PLURAL)
    @kopf.on.create(GROUP, VERSION, pol.PLURAL)
    @kopf.on.update(GROUP, VERSION, pol.PLURAL, field="spec")
    async def policy_changed(*, memo: kopf.Memo, **kwargs: Any) -> None:
        """Start the policy loop (once; like the poller, from a change handler's context) and
        have it re-plan now rather than at its next period."""
        shared: _Shared = memo.shared
        if shared.policy_loop is None:
            indexes = {k: kwargs[k] for k in ("running_pods", "policy_scans", "scan_policies")}
            shared.policy_loop = asyncio.create_task(_policy_loop(memo, indexes))
        shared.policy_changed.set()

    async def _policy_loop(memo: kopf.Memo, indexes: Mapping[str, Any]) -> None:
        """Every CIMS_OPERATOR_POLICY_SECONDS, or at once after a policy changed: turn what
        runs into ImageScans for every policy at once, then write each policy's status."""
        shared: _Shared = memo.shared
        while True:
            shared.policy_changed.clear()
            if not await _paused(memo):
                try:
                    await _evaluate_policies(memo, indexes)
                except Exception as err:  # the next period tries again
                    LOG.warning("ClusterScanPolicies not applied: %s", str(err)[:300])
            with suppress(TimeoutError):
                await asyncio.wait_for(shared.policy_changed.wait(), memo.config.policy_poll_s)

    async def _evaluate_policies(memo: kopf.Memo, indexes: Mapping[str, Any]) -> None:
        config: OperatorConfig = memo.config
        policies, invalid = [], []
        for values in indexes["scan_policies"].values():
            for value in values:
                try:
                    spec = pol.ClusterScanPolicySpec.model_validate(value["spec"])
                except ValidationError as err:
                    invalid.append((value, _spec_error(err)))
                    continue
                policies.append((value, pol.Policy(value["name"], value["uid"], spec)))
        labels = await asyncio.to_thread(memo.client.namespace_labels)
        pods = [p for values in indexes["running_pods"].values() for p in values]
        found = pol.plan([p for _, p in policies], pods, labels)
        ns = config.policy_namespace
        scans = [s for values in indexes["policy_scans"].values() for s in values]
        existing = {scan["name"]: scan for scan in scans if scan["namespace"] == ns}
        todo = pol.changes(found.wanted, existing, ns)
        # what really was created or deleted: the index can lag behind the last pass
        done = [c for c in todo if await asyncio.to_thread(_apply, memo.client, ns, c)]
        for value, policy in policies:
            name, generation = policy.name, value["generation"]
            label = pol.policy_label(name)
            _announce(value, label, done, existing)
            mine = [s for s in scans if s["metadata"]["labels"].get(label) == "true"]
            images = sum(name in want.policies for want in found.wanted.values())
            status = pol.policy_status(
                name,
                mine,
                images=0 if policy.spec.suspend else images,
                skipped=found.skipped.get(name, 0),
                generation=generation,
                evaluated_at=st.now(),
                fail_on=policy.spec.failOn,
            )
            status["conditions"] = st.keep_transitions(value["conditions"], status["conditions"])
            await asyncio.to_thread(memo.client.patch_status, pol.PLURAL, name, {"status": status})
        for value, message in invalid:
            ready = st.condition("Ready", False, "InvalidSpec", message, value["generation"])
            conditions = st.keep_transitions(value["conditions"], [ready])
            patch = {"status": {"conditions": conditions}}
            await asyncio.to_thread(memo.client.patch_status, pol.PLURAL, value["name"], patch)

    def _announce(
        value: Mapping[str, Any],
        label: str,
        todo: list[pol.Change],
        existing: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """An Event on a policy whose images changed: how many new ones, how many retired."""
        created = sum(
            c.action == "create" and c.body["metadata"]["labels"].get(label) == "true" for c in todo
        )
        retired = sum(
            c.action == "delete"
            and (existing.get(c.name) or {}).get("metadata", {}).get("labels", {}).get(label)
            == "true"
            for c in todo
        )
        if created or retired:
            ref = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": pol.KIND,
                "metadata": {"name": value["name"], "uid": value["uid"]},
            }
            message = f"{created} new running images, {retired} retired"
            kopf.info(kopf.Body(cast(kopf.RawBody, ref)), reason="PolicyApplied", message=message)

    def _apply(kube: KubeClient, namespace: str, change: pol.Change) -> bool:
        """Apply one change; whether it created or deleted an ImageScan as planned (a create
        of one that exists already patches it instead)."""
        if change.action == "delete":
            return kube.delete_imagescan(namespace, change.name)
        if change.action == "create" and kube.create_imagescan(change.body):
            return True
        body = change.body
        patch = (
            body
            if change.action == "patch"
            else {
                "metadata": {
                    k: body["metadata"][k] for k in ("labels", "annotations", "ownerReferences")
                },
                "spec": body["spec"],
            }
        )
        kube.patch_imagescan(namespace, change.name, patch)
        return change.action == "patch"
