"""The operator against kmock (a stateful Kubernetes API mock), run by kopf's KopfRunner.

Setup as ../shared/notes/kmock.md says: the CRDs' resources registered plus the bundled
built-ins, a kubeconfig pointing at kmock, KopfRunner in a thread, waits with asyncio.sleep.
Two kmock 0.8 gaps are bridged as a real API server behaves: created objects get a uid,
generation and resourceVersion; /api/v1/namespaces is the Namespace resource.
"""

from __future__ import annotations

import asyncio
import json
import os
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import kopf
import pytest
import yaml
from kmock._internal import enums as kmock_enums
from kmock._internal import parsing as kmock_parsing
from kmock._internal import rendering as kmock_rendering
from kopf.testing import KopfRunner

from tests.conftest import free_port

_KMOCK_PARSE_PATH = kmock_parsing.parse_path
_KMOCK_PARSE_REQUEST = kmock_rendering.Request._parse
HANDLERS = Path(__file__).parents[2] / "operator" / "cims" / "k8s" / "handlers.py"
NS = "scans"


class Cluster:
    """kmock plus small helpers that talk to it over HTTP, as kubectl would."""

    def __init__(self, kmock: Any, shared: Path) -> None:
        self.kmock = kmock
        self.shared = shared
        self.url = str(kmock.url).rstrip("/")

    async def request(self, method: str, path: str, body: Any = None, ctype: str = "") -> Any:
        headers = {"Content-Type": ctype or "application/json"}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                self.url + path,
                data=json.dumps(body) if body is not None else None,
                headers=headers,
            ) as resp,
        ):
            text = await resp.text()
            if resp.status >= 400:
                raise AssertionError(f"{method} {path}: HTTP {resp.status}: {text[:300]}")
            return json.loads(text) if text else None

    async def apply_scan(
        self, name: str, spec: dict[str, Any], *, finalizers: list[str] | None = None
    ) -> None:
        path = f"/apis/cims.dev/v1alpha1/namespaces/{NS}/imagescans"
        await self._create(path, "ImageScan", name, spec, NS, finalizers)

    async def apply_policy(
        self, name: str, spec: dict[str, Any], *, finalizers: list[str] | None = None
    ) -> None:
        path = "/apis/cims.dev/v1alpha1/clusterscanpolicies"
        await self._create(path, "ClusterScanPolicy", name, spec, None, finalizers)

    async def _create(
        self,
        path: str,
        kind: str,
        name: str,
        spec: dict[str, Any],
        namespace: str | None,
        finalizers: list[str] | None,
    ) -> None:
        # kmock sets no uid, generation or resourceVersion: the test sets what a real API
        # server would on create (kopf's JSON patches test the resourceVersion).
        meta: dict[str, Any] = {
            "name": name,
            "uid": f"uid-{name}",
            "generation": 1,
            "resourceVersion": "1",
        }
        if namespace:
            meta["namespace"] = namespace
        if finalizers:
            meta["finalizers"] = finalizers
        body = {"apiVersion": "cims.dev/v1alpha1", "kind": kind, "metadata": meta, "spec": spec}
        await self.request("POST", path, body)

    async def policy(self, name: str) -> dict[str, Any]:
        return dict(
            await self.request("GET", f"/apis/cims.dev/v1alpha1/clusterscanpolicies/{name}")
        )

    async def add_namespace(self, name: str, labels: dict[str, str]) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels},
        }
        await self.request("POST", "/api/v1/namespaces", body)

    async def add_pod(self, pod: dict[str, Any]) -> None:
        ns = pod["metadata"]["namespace"]
        await self.request("POST", f"/api/v1/namespaces/{ns}/pods", pod)

    async def delete_pod(self, namespace: str, name: str) -> None:
        await self.request("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}")

    async def scans(self) -> list[dict[str, Any]]:
        found = await self.request("GET", f"/apis/cims.dev/v1alpha1/namespaces/{NS}/imagescans")
        return list(found.get("items", []))

    async def patch_scan_spec(self, name: str, spec: dict[str, Any]) -> None:
        """A spec change, with the generation bump a real API server makes."""
        generation = (await self.scan(name))["metadata"].get("generation", 1) + 1
        await self.request(
            "PATCH",
            f"/apis/cims.dev/v1alpha1/namespaces/{NS}/imagescans/{name}",
            {"metadata": {"generation": generation}, "spec": spec},
            "application/merge-patch+json",
        )

    async def scan(self, name: str) -> dict[str, Any]:
        return dict(
            await self.request("GET", f"/apis/cims.dev/v1alpha1/namespaces/{NS}/imagescans/{name}")
        )

    async def metrics(self) -> str:
        port = os.environ["CIMS_OPERATOR_METRICS_PORT"]
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as resp,
        ):
            return await resp.text()

    def events(self, name: str) -> list[str]:
        """Reasons of the Events posted about one ImageScan, in order (from the requests: kmock
        does not implement generateName, so it keeps only the first Event it is sent)."""
        return [
            r.data["reason"]
            for r in self.kmock
            if r.method.name == "POST"
            and r.url.path.endswith("/events")
            and isinstance(r.data, dict)
            and (r.data.get("involvedObject") or {}).get("name") == name
        ]

    async def jobs(self) -> list[dict[str, Any]]:
        found = await self.request("GET", f"/apis/batch/v1/namespaces/{NS}/jobs")
        return list(found.get("items", []))

    async def set_job_status(self, name: str, status: dict[str, Any]) -> None:
        await self.request(
            "PATCH",
            f"/apis/batch/v1/namespaces/{NS}/jobs/{name}/status",
            {"status": status},
            "application/merge-patch+json",
        )

    async def wait(
        self,
        check: Callable[[], Awaitable[bool]],
        what: str,
        timeout: float = 15,
        details: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if await check():
                return
            await asyncio.sleep(0.1)
        seen = await details() if details else ""
        raise AssertionError(f"timed out waiting for {what}; {seen}")

    async def wait_phase(self, name: str, phase: str, timeout: float = 15) -> dict[str, Any]:
        async def ok() -> bool:
            return (await self.scan(name)).get("status", {}).get("phase") == phase

        await self.wait(ok, f"{name} in phase {phase}", timeout)
        return await self.scan(name)


@pytest.fixture
def operator_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shared = tmp_path / "shared"
    (shared / "incoming").mkdir(parents=True)
    for key, value in {
        "CIMS_OPERATOR_SHARED_DIR": str(shared),
        "CIMS_OPERATOR_POLL_SECONDS": "0.3",
        "CIMS_OPERATOR_MAX_RUNNING": "2",
        "CIMS_OPERATOR_IMAGE": "cims:test",
        "CIMS_OPERATOR_METRICS_PORT": str(free_port()),
        "CIMS_OPERATOR_POLICY_NAMESPACE": NS,
        "CIMS_OPERATOR_POLICY_SECONDS": "0.5",
        "CIMS_OPERATOR_DEFAULT_PLACEMENT": json.dumps(
            {
                "nodeSelector": {"cims.dev/internal-network": "true"},
                "tolerations": [{"key": "internal", "operator": "Exists", "effect": "NoSchedule"}],
            }
        ),
    }.items():
        monkeypatch.setenv(key, value)
    return shared


def _parse_path(path: str) -> Any:
    """kmock 0.8 parses /api/v1/namespaces[/NAME] as a namespace prefix with nothing after it
    and answers 500; a real API server serves Namespaces there. Parse those two paths as the
    cluster-scoped resource they are; everything else as kmock does."""
    parts = path.strip("/").split("/")
    if parts[:3] == ["api", "v1", "namespaces"] and len(parts) <= 4:
        name = parts[3] if len(parts) == 4 else None
        return kmock_parsing.ParsedPath("", "v1", "namespaces", None, name, None)
    return _KMOCK_PARSE_PATH(path)


async def _parse_request(raw: Any, *, id: int = 0) -> Any:
    """kmock stores a created object as it was sent; a real API server sets its uid,
    generation and resourceVersion (kopf's patches test the resourceVersion): set them."""
    request = await _KMOCK_PARSE_REQUEST(raw, id=id)
    if request.action == kmock_enums.action.CREATE and isinstance(request.data, dict):
        meta = request.data.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{meta.get('namespace', '')}-{meta.get('name', '')}")
        meta.setdefault("generation", 1)
        meta.setdefault("resourceVersion", "1")
    return request


@pytest.fixture
async def cluster(
    kmock: Any, operator_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Cluster:
    monkeypatch.setattr(kmock_parsing, "parse_path", _parse_path)
    monkeypatch.setattr(kmock_rendering.Request, "_parse", _parse_request)
    kmock.resources["cims.dev/v1alpha1/imagescans"] = kmock.ResourceInfo(
        kind="ImageScan",
        namespaced=True,
        verbs={"list", "watch", "get", "create", "patch", "delete"},
        subresources={"status"},
    )
    kmock.resources["cims.dev/v1alpha1/clusterscanpolicies"] = kmock.ResourceInfo(
        kind="ClusterScanPolicy",
        namespaced=False,
        verbs={"list", "watch", "get", "create", "patch", "delete"},
        subresources={"status"},
    )
    with warnings.catch_warnings():  # kmock 0.8 reads its bundle with a deprecated call
        warnings.simplefilter("ignore", DeprecationWarning)
        kmock.resources.load_bundled()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "kmock", "cluster": {"server": str(kmock.url)}}],
                "users": [{"name": "test", "user": {"token": "test-token"}}],
                "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "test"}}],
                "current-context": "kmock",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    import kubernetes.config.kube_config as kc

    monkeypatch.setattr(kc, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    return Cluster(kmock, operator_env)


@asynccontextmanager
async def running_operator(cluster: Cluster) -> AsyncIterator[Cluster]:
    """The operator in a thread (kopf's KopfRunner), with a fresh handler registry."""
    runner = KopfRunner(
        ["run", "--standalone", "-A", str(HANDLERS)], registry=kopf.OperatorRegistry()
    )
    runner.__enter__()
    try:
        await asyncio.sleep(1.0)  # discovery and the first watches
        yield cluster
    finally:
        await asyncio.to_thread(runner.__exit__, None, None, None)


@pytest.fixture
async def operator(cluster: Cluster) -> AsyncIterator[Cluster]:
    async with running_operator(cluster) as running:
        yield running
