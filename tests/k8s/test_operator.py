"""The operator end to end against kmock: Jobs, status, conditions, limits, failures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from cims.model import ImageRef, ParsedReport
from cims.scanners.registry import parse_file
from cims.store.db import Store

from tests.conftest import FIXTURES
from tests.k8s.conftest import NS, Cluster, running_operator
from tests.k8s.jobrunner import job_status, run_job

DIGEST = "sha256:" + "ab" * 32
# a scan of DIGEST (seeded in the central DB by _seed_central_db) rescanned every 2 s
NIGHTLY = {
    "image": "registry.internal/team/app:1",
    "digest": DIGEST,
    "tools": ["trivy"],
    "rescanInterval": "2s",
}


def _conditions(scan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in scan["status"].get("conditions", [])}


async def test_an_imagescan_gets_a_job_with_placement_and_a_restricted_pod(
    operator: Cluster,
) -> None:
    await operator.apply_scan("app", {"image": "registry.internal/team/app:1", "tools": ["trivy"]})

    async def has_job() -> bool:
        return bool(await operator.jobs())

    await operator.wait(has_job, "a scan Job", details=lambda: operator.scan("app"))
    (job,) = await operator.jobs()
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"cims.dev/internal-network": "true"}
    assert pod["tolerations"][0]["key"] == "internal"
    container = pod["containers"][0]
    assert container["image"] == "cims:test"
    assert container["args"][:5] == [
        "scan",
        "registry.internal/team/app:1",
        "--tools",
        "trivy",
        "--timeout",
    ]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    scan = await operator.wait_phase("app", "Scanning")
    assert _conditions(scan)["Ready"]["status"] == "False"
    assert scan["status"]["scanId"] in job["metadata"]["name"]


async def _job_for(operator: Cluster, scan: str) -> dict[str, Any]:
    async def found() -> bool:
        return any(
            j["metadata"]["labels"].get("cims.dev/imagescan") == scan for j in await operator.jobs()
        )

    await operator.wait(found, f"the Job of {scan}", details=lambda: operator.scan(scan))
    return next(
        j for j in await operator.jobs() if j["metadata"]["labels"]["cims.dev/imagescan"] == scan
    )


async def test_the_real_container_results_reach_status_and_central_db(
    operator: Cluster, pushed: tuple[str, str], tmp_path: Path
) -> None:
    ref, digest = pushed
    operator.shared.chmod(0o777)
    (operator.shared / "incoming").chmod(0o777)
    await operator.apply_scan(
        "app", {"image": ref, "tools": ["trivy", "grype", "va"], "failOn": "critical"}
    )
    job = await _job_for(operator, "app")
    proc = await asyncio.to_thread(run_job, job, operator.shared, tmp_path)
    assert proc.returncode == 0, proc.stderr
    await operator.set_job_status(job["metadata"]["name"], job_status(proc))
    scan = await operator.wait_phase("app", "Complete")
    status = scan["status"]
    assert status["digest"] == digest
    assert status["tools"]["trivy"]["status"] == "ok"
    assert status["tools"]["va"]["status"] == "not-applicable"
    conditions = _conditions(scan)
    assert conditions["Scanned"]["status"] == "True"
    assert conditions["Degraded"]["status"] == "False"
    # the container's report (its stdout) and the status agree, and so does the central DB
    produced = json.loads(proc.stdout)
    assert status["summary"]["total"] == produced["summary"]["findings"]
    with Store(operator.shared / "cims.db") as central:
        row = central.find_image(digest=digest)
        assert len(central.correlated(row.id)) == status["summary"]["total"]
    critical = status["summary"]["critical"]
    assert conditions["Ready"]["status"] == ("False" if critical else "True")
    assert not (operator.shared / "incoming" / f"{status['scanId']}.db").exists()
    assert operator.events("app") == ["ScanStarted", "ScanComplete"]


async def test_a_failed_job_makes_the_scan_failed_with_its_reason(operator: Cluster) -> None:
    await operator.apply_scan(
        "broken", {"image": "registry.internal/team/app:1", "tools": ["trivy"]}
    )
    job = await _job_for(operator, "broken")
    await operator.set_job_status(
        job["metadata"]["name"],
        {
            "failed": 2,
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "DeadlineExceeded",
                    "message": "Job was active longer than specified deadline",
                }
            ],
        },
    )
    scan = await operator.wait_phase("broken", "Failed")
    ready = _conditions(scan)["Ready"]
    assert ready["status"] == "False"
    assert ready["reason"] == "DeadlineExceeded"
    assert "longer than specified deadline" in ready["message"]
    await asyncio.sleep(1)  # several polls: the failure is written and announced once
    assert operator.events("broken") == ["ScanStarted", "ScanFailed"]


async def test_an_invalid_spec_is_failed_with_one_clear_message(operator: Cluster) -> None:
    await operator.apply_scan("bad", {"image": "Registry.Internal/Team/App:1"})
    scan = await operator.wait_phase("bad", "Failed")
    ready = _conditions(scan)["Ready"]
    assert ready["reason"] == "InvalidSpec"
    assert "must be lowercase" in ready["message"]
    assert await operator.jobs() == []


async def test_the_running_limit_is_never_exceeded(operator: Cluster) -> None:
    for i in range(4):
        await operator.apply_scan(
            f"s{i}", {"image": f"registry.internal/team/app{i}:1", "tools": ["trivy"]}
        )

    async def two_pending() -> bool:
        phases = [(await operator.scan(f"s{i}")).get("status", {}).get("phase") for i in range(4)]
        return phases.count("Pending") == 2 and phases.count("Scanning") == 2

    await operator.wait(two_pending, "2 scanning and 2 pending")
    assert len(await operator.jobs()) == 2
    pending = [
        s for i in range(4) if (s := await operator.scan(f"s{i}"))["status"]["phase"] == "Pending"
    ]
    assert all(_conditions(s)["Ready"]["reason"] == "ConcurrencyLimit" for s in pending)
    # re-checked on every poll (0.3 s), a queued scan that stays queued is not written again
    queued = pending[0]["metadata"]["name"]

    def status_writes() -> int:
        return sum(
            r.method.name == "PATCH" and r.url.path.endswith(f"/imagescans/{queued}/status")
            for r in operator.kmock
        )

    before = status_writes()
    await asyncio.sleep(1.2)
    assert status_writes() == before
    # one finishes (failed, to keep it short): exactly one queued scan gets its Job
    first = (await operator.jobs())[0]
    await operator.set_job_status(
        first["metadata"]["name"],
        {"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "X"}]},
    )

    async def three_jobs() -> bool:
        return len(await operator.jobs()) == 3

    await operator.wait(three_jobs, "a third Job after one finished")
    await asyncio.sleep(1.5)  # several timer rounds: still no fourth Job
    assert len(await operator.jobs()) == 3
    metrics = await operator.metrics()
    assert 'cims_scans_total{event="started",outcome="ok"} 3' in metrics
    assert 'cims_scans_total{event="failed",outcome="X"} 1' in metrics
    assert "cims_queue_length 1" in metrics


async def test_deleting_a_running_scan_frees_its_slot(operator: Cluster) -> None:
    """The limit counts running Jobs: an ImageScan deleted while its Job runs (the garbage
    collector then deletes the Job; kmock has none, so the test does) gives its slot to the
    next queued scan."""
    for i in range(3):
        await operator.apply_scan(
            f"s{i}", {"image": f"registry.internal/team/app{i}:1", "tools": ["trivy"]}
        )

    async def two_jobs() -> bool:
        return len(await operator.jobs()) == 2

    await operator.wait(two_jobs, "2 Jobs under the limit of 2")
    await asyncio.sleep(1)  # several polls while both run
    jobs = await operator.jobs()
    running = {j["metadata"]["labels"]["cims.dev/imagescan"] for j in jobs}
    (queued,) = {"s0", "s1", "s2"} - running
    job = jobs[0]
    owner = job["metadata"]["labels"]["cims.dev/imagescan"]
    await operator.request("DELETE", f"/apis/cims.dev/v1alpha1/namespaces/{NS}/imagescans/{owner}")
    await operator.request(
        "DELETE", f"/apis/batch/v1/namespaces/{NS}/jobs/{job['metadata']['name']}"
    )
    await _job_for(operator, queued)
    assert len(await operator.jobs()) == 2


async def test_imagescans_carry_no_finalizer_and_lose_one_an_older_operator_left(
    operator: Cluster,
) -> None:
    """Nothing blocks deleting an ImageScan when the operator is gone (uninstalled, down):
    CIMS keeps no finalizer on them, and removes kopf's from ImageScans an older CIMS (with a
    per-object timer, which needs one) made."""
    kopf_finalizer = "kopf.zalando.org/KopfFinalizerMarker"
    await operator.apply_scan("new", {"image": "registry.internal/team/app:1", "tools": ["trivy"]})
    await operator.apply_scan(
        "old",
        {"image": "registry.internal/team/app:2", "tools": ["trivy"]},
        finalizers=[kopf_finalizer],
    )
    await operator.wait_phase("new", "Scanning")

    async def released() -> bool:
        return not (await operator.scan("old"))["metadata"].get("finalizers")

    await operator.wait(
        released, "kopf's old finalizer removed", details=lambda: operator.scan("old")
    )
    await operator.wait_phase("old", "Scanning")
    await asyncio.sleep(1)  # several polls later, still none
    for name in ("new", "old"):
        assert not (await operator.scan(name))["metadata"].get("finalizers")


async def test_a_spec_change_starts_a_new_scan(operator: Cluster) -> None:
    await operator.apply_scan("app", {"image": "registry.internal/team/app:1", "tools": ["trivy"]})
    first = await _job_for(operator, "app")
    await operator.patch_scan_spec("app", {"tools": ["trivy", "grype"]})

    async def second() -> bool:
        return len(await operator.jobs()) == 2

    await operator.wait(second, "a second Job after the spec change")
    newest = [
        j for j in await operator.jobs() if j["metadata"]["name"] != first["metadata"]["name"]
    ]
    assert "trivy,grype" in newest[0]["spec"]["template"]["spec"]["containers"][0]["args"]


async def test_a_restarted_operator_adopts_the_running_job(cluster: Cluster) -> None:
    async with running_operator(cluster):
        await cluster.apply_scan(
            "app", {"image": "registry.internal/team/app:1", "tools": ["trivy"]}
        )
        job = await _job_for(cluster, "app")
        await cluster.wait_phase("app", "Scanning")
    async with running_operator(cluster):
        await asyncio.sleep(1.5)  # resume handlers and several timer rounds
        assert [j["metadata"]["name"] for j in await cluster.jobs()] == [job["metadata"]["name"]]
        await cluster.set_job_status(
            job["metadata"]["name"],
            {
                "failed": 1,
                "conditions": [
                    {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
                ],
            },
        )
        scan = await cluster.wait_phase("app", "Failed")
    assert _conditions(scan)["Ready"]["reason"] == "BackoffLimitExceeded"


def _seed_central_db(cluster: Cluster) -> ParsedReport:
    """A scan of DIGEST with trivy, just now, in the central DB."""
    report, sha = parse_file(FIXTURES / "trivy" / "golden-debian-buster.json")
    with Store(cluster.shared / "cims.db") as central:
        central.import_reports(
            ImageRef.parse(f"registry.internal/team/app:1@{DIGEST}"),
            [(report, sha, "earlier-scan.json")],
        )
    return report


async def test_a_recent_scan_of_the_same_digest_is_reused_without_a_job(
    cluster: Cluster,
) -> None:
    report = _seed_central_db(cluster)
    async with running_operator(cluster):
        await cluster.apply_scan(
            "again", {"image": "registry.internal/team/app:1", "digest": DIGEST, "tools": ["trivy"]}
        )
        scan = await cluster.wait_phase("again", "Complete")
        # more tools than were scanned: no reuse, a Job
        await cluster.apply_scan(
            "more",
            {
                "image": "registry.internal/team/app:1",
                "digest": DIGEST,
                "tools": ["trivy", "grype"],
            },
        )
        await _job_for(cluster, "more")
    assert scan["status"]["cachedFrom"].startswith("db-scan-")
    assert 0 < scan["status"]["summary"]["total"] <= len(report.findings)
    assert [j["metadata"]["labels"]["cims.dev/imagescan"] for j in await cluster.jobs()] == ["more"]
    assert "reused" in _conditions(scan)["Scanned"]["message"]


async def test_rescan_interval_starts_a_fresh_scan_past_the_cache(cluster: Cluster) -> None:
    _seed_central_db(cluster)
    async with running_operator(cluster):
        await cluster.apply_scan("nightly", NIGHTLY)
        first = await cluster.wait_phase("nightly", "Complete")
        assert first["status"]["cachedFrom"]
        job = await _job_for(cluster, "nightly")  # the interval passed: a real scan, no cache
        scan = await cluster.wait_phase("nightly", "Scanning")
    assert scan["status"]["run"] == 1
    assert scan["status"]["scanId"] in job["metadata"]["name"]
