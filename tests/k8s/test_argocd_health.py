"""The Argo CD health check (Lua) on statuses built by the operator's status builders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cims.k8s import status as st
from cims.k8s.policy import policy_status
from cims.model import ImageRef, ToolRun
from cims.report.model import build
from cims.scanners.registry import parse_file
from cims.store.db import Store

from tests.conftest import FIXTURES

lupa = pytest.importorskip("lupa", reason="lupa (Lua for Python) is not installed")
LUA = (Path(__file__).parents[2] / "deploy" / "argocd" / "health.lua").read_text()


def health(
    status: dict[str, Any] | None,
    generation: int = 1,
    *,
    kind: str = "ImageScan",
    spec: dict[str, Any] | None = None,
) -> tuple[str, str]:
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    obj: dict[str, Any] = {"kind": kind, "metadata": {"generation": generation}, "spec": spec or {}}
    if status is not None:
        obj["status"] = status
    lua.globals().obj = _to_lua(lua, obj)
    result = lua.execute(LUA)
    return str(result["status"]), str(result["message"])


def _to_lua(lua: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return lua.table_from({k: _to_lua(lua, v) for k, v in value.items() if v is not None})
    if isinstance(value, list):
        return lua.table_from([_to_lua(lua, v) for v in value])
    return value


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Any:
    parsed, sha = parse_file(FIXTURES / "twistlock" / "dd-twistcli-debian9-many.json")
    with Store(tmp_path_factory.mktemp("db") / "c.db") as store:
        row, _ = store.import_reports(
            ImageRef.parse(
                "app@sha256:f4c0503d26c8da0a04e6190c9d4f2a30f38958852b9fb80bcd2b819a7571e7f7"
            ),
            [(parsed, sha, "r")],
            runs=[ToolRun(tool="va", status="failed", message="IAM refused the API key")],
        )
        return build(store, row)


def test_progressing_states() -> None:
    assert health(None)[0] == "Progressing"
    assert health(st.waiting(st.PENDING, "ConcurrencyLimit", "10 running", 1))[0] == "Progressing"
    assert health(st.waiting(st.SCANNING, "JobCreated", "Job x", 1))[0] == "Progressing"


def test_suspended_and_failed() -> None:
    assert health(st.waiting(st.PENDING, "Suspended", "spec.suspend is true", 1)) == (
        "Suspended",
        "spec.suspend is true",
    )
    assert health(st.failed("DeadlineExceeded", "too long", 1)) == ("Degraded", "too long")


def test_complete_is_healthy_unless_failing_or_degraded(report: Any) -> None:
    runs_ok = [r for r in report.tool_runs if r.status == "ok"]
    all_ok = report.model_copy(update={"tool_runs": runs_ok})
    common: dict[str, Any] = {
        "generation": 1,
        "scan_id": "s",
        "db": "d",
        "top_n": 5,
        "started_at": None,
    }
    ok = st.complete(all_ok, fail_on=None, **common)
    assert health(ok)[0] == "Healthy"
    one_failed = st.complete(report, fail_on=None, **common)
    assert health(one_failed) == ("Degraded", "a scanner failed: va: IAM refused the API key")
    gated = st.complete(all_ok, fail_on="critical", **common)
    assert health(gated) == ("Degraded", "findings at or above critical")
    assert health(ok, generation=2)[0] == "Progressing"  # a newer spec not seen yet


def _policy(scans: list[dict[str, Any]], images: int) -> dict[str, Any]:
    return policy_status(
        "p", scans, images=images, skipped=0, generation=1, evaluated_at="now", fail_on="high"
    )


def test_policy_health_follows_ready_and_compliant() -> None:
    def scan(failing: bool) -> dict[str, Any]:
        summary = {"high": 1} if failing else {}
        return {
            "name": "s",
            "status": {"phase": "Complete", "failing": failing, "summary": summary},
        }

    assert health(None, kind="ClusterScanPolicy")[0] == "Progressing"
    assert health(_policy([], images=2), kind="ClusterScanPolicy") == (
        "Progressing",
        "2 of 2 images not scanned yet",
    )
    assert health(_policy([scan(False)], images=1), kind="ClusterScanPolicy")[0] == "Healthy"
    assert health(_policy([scan(False), scan(True)], images=2), kind="ClusterScanPolicy") == (
        "Degraded",
        "1 of 2 images have findings at or above high",
    )
    failed = _policy([{"name": "s", "status": {"phase": "Failed"}}], images=1)
    assert health(failed, kind="ClusterScanPolicy") == ("Degraded", "0 pending, 1 failed scans")
    assert health(None, kind="ClusterScanPolicy", spec={"suspend": True})[0] == "Suspended"
    ok = _policy([scan(False)], images=1)
    assert health(ok, generation=2, kind="ClusterScanPolicy")[0] == "Progressing"
