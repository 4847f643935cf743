"""kopf peering: the ImageScan poller (CIMS's task, which kopf does not pause) follows kopf's
rule, so a paused operator neither starts nor collects scans; and cims-operator's options."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pytest
from cims.k8s import main as operator_main
from cims.k8s.peering import paused_by
from kopf._core.engines.peering import Identity, Peer
from kopf.testing import KopfRunner

from tests.k8s.conftest import HANDLERS, Cluster
from tests.k8s.test_operator import NIGHTLY, _seed_central_db

PEERING = "/apis/kopf.dev/v1/clusterkopfpeerings/cims"
NOW = datetime.now(UTC)


def _keepalive(identity: str, priority: int, seen: datetime, lifetime: int = 60) -> dict[str, Any]:
    """A peer's entry as kopf itself writes it into the peering object's status."""
    peer = Peer(
        identity=Identity(identity), priority=priority, lifetime=lifetime, lastseen=seen.isoformat()
    )
    return {identity: peer.as_dict()}


def test_kopfs_rule_higher_priority_pauses_lower_and_equal_ones_all() -> None:
    me, other = _keepalive("me", 10, NOW), _keepalive("other", 20, NOW)
    assert paused_by(me, 10, "me", NOW) is None
    assert paused_by({**me, **_keepalive("low", 5, NOW)}, 10, "me", NOW) is None
    assert "higher priority" in (paused_by({**me, **other}, 10, "me", NOW) or "")
    same = {**me, **_keepalive("twin", 10, NOW)}
    assert "same priority" in (paused_by(same, 10, "me", NOW) or "")
    # without knowing its own id, two live peers of its priority are itself and a twin
    assert paused_by(same, 10, None, NOW) is not None
    assert paused_by(me, 10, None, NOW) is None


def test_a_dead_peer_pauses_nobody() -> None:
    long_ago = NOW - timedelta(seconds=120)
    peers = {**_keepalive("me", 10, NOW), **_keepalive("gone", 20, long_ago, lifetime=60)}
    assert paused_by(peers, 10, "me", NOW) is None


def test_cims_operator_refuses_standalone_with_peering(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        operator_main.main(["--standalone", "--peering", "cims"])
    assert exit_.value.code == 2
    assert "--standalone and --peering exclude each other" in capsys.readouterr().err


async def test_a_paused_operator_starts_no_rescan_until_it_resumes(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster.kmock.resources["kopf.dev/v1/clusterkopfpeerings"] = cluster.kmock.ResourceInfo(
        kind="ClusterKopfPeering",
        namespaced=False,
        verbs={"list", "watch", "get", "create", "patch", "delete"},
    )
    await cluster.request(
        "POST",
        "/apis/kopf.dev/v1/clusterkopfpeerings",
        {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": "cims"}},
    )
    monkeypatch.setenv("POD_ID", "cims-operator-0")
    _seed_central_db(cluster)
    runner = KopfRunner(
        ["run", "--peering", "cims", "--priority", "10", "-A", str(HANDLERS)],
        registry=kopf.OperatorRegistry(),
    )
    runner.__enter__()
    try:

        async def alive() -> bool:
            status = (await cluster.request("GET", PEERING)).get("status") or {}
            return "cims-operator-0" in status

        await cluster.wait(alive, "the operator's keepalive in the peering object")
        await cluster.apply_scan("nightly", NIGHTLY)
        await cluster.wait_phase("nightly", "Complete")  # from the cache, no Job
        # a peer with a higher priority appears: kopf pauses, and so must the poller
        higher = _keepalive("cims-operator-1", 20, datetime.now(UTC))
        await cluster.request("PATCH", PEERING, {"status": higher}, "application/merge-patch+json")
        await asyncio.sleep(4)  # the rescan fell due 2 s after Complete
        assert await cluster.jobs() == []
        assert (await cluster.scan("nightly"))["status"]["phase"] == "Complete"
        # it goes away: the operator resumes and the due rescan starts
        await cluster.request(
            "PATCH", PEERING, {"status": {"cims-operator-1": None}}, "application/merge-patch+json"
        )

        async def rescanned() -> bool:
            return bool(await cluster.jobs())

        await cluster.wait(rescanned, "the rescan Job after resuming", timeout=20)
    finally:
        await asyncio.to_thread(runner.__exit__, None, None, None)
