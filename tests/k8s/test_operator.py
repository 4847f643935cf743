"""The operator end to end against kmock: Jobs, status, conditions, limits, failures."""

from __future__ import annotations

from typing import Any

from tests.k8s.conftest import Cluster

DIGEST = "sha256:" + "ab" * 32


def _conditions(scan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in scan["status"].get("conditions", [])}


async def test_an_imagescan_gets_a_job_with_placement_and_a_restricted_pod(
    operator: Cluster,
) -> None:
    await operator.apply_scan("app", {"image": "registry.internal/team/app:1", "tools": ["trivy"]})

    async def has_job() -> bool:
        return bool(await operator.jobs())

    await operator.wait(has_job, "a scan Job")
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
