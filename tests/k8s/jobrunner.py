"""Runs a created Job's container for real: the CIMS image on the Docker engine, with the Job's
args and env, the shared volume at /shared and the pod's restrictions (non-root, read-only
root filesystem, no capabilities). Then the Job's status is set in kmock from the exit code,
as the Job controller would, so the status the operator writes comes from the container."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import FIXTURES, stand_in_tools

STAND_IN_ENV = {
    "FAKE_TRIVY_REPORT": "/fixtures/trivy/golden-debian-buster.json",
    "FAKE_GRYPE_REPORT": "/fixtures/grype/dd-vulnerable-image-debian10-allfields.json",
}


def run_job(job: dict[str, Any], shared: Path, work: Path) -> subprocess.CompletedProcess[str]:
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    user = pod["securityContext"]["runAsUser"]
    cmd = [
        "docker",
        "run",
        "--rm",
        "--network",
        "host",
        "--user",
        f"{user}:{pod['securityContext']['runAsGroup']}",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "-v",
        f"{shared}:/shared",
        # the stand-in scanners replace the licensed ones a real CIMS image would carry
        "-v",
        f"{stand_in_tools(work / 'tools')}:/opt/cims/tools:ro",
        "-v",
        f"{FIXTURES}:/fixtures:ro",
    ]
    for item in container.get("env", []):
        cmd += ["-e", f"{item['name']}={item['value']}"]
    for key, value in STAND_IN_ENV.items():
        cmd += ["-e", f"{key}={value}"]
    cmd += [container["image"], *container["args"]]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def job_status(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The status the Job controller writes for a pod that exited like ``proc``."""
    if proc.returncode == 0:
        return {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    return {
        "failed": 1,
        "conditions": [
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
            }
        ],
    }
