"""Benchmark: N ImageScans against kmock; time until every one has its Job or waits under the
limit (phase Scanning or Pending), ImageScans per minute, peak RSS of the operator process.
Targets: >= 1000 per minute, <= 200 MB. Two runs: the operator starts over N ImageScans that
exist (a restart), then N more are applied while it runs. kmock serves from a child process
(so the mock API server does not share the operator's interpreter), with two of its artifacts
bridged (see ``_bridge_kmock``; ``--raw-kmock`` leaves them); the baseline is the same kmock
answering N creations with no operator, measured in the same run.
Run: ``.venv/bin/python bench/operator_scale.py [--count 1000] [--raw-kmock]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import aiohttp
import kmock
import kopf
import kubernetes.config.kube_config as kc
import yaml
from kmock._internal import dsl, k8s, rendering
from kopf.testing import KopfRunner

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = ROOT / "operator" / "cims" / "k8s" / "handlers.py"
NS = "bench"
PATH = f"/apis/cims.dev/v1alpha1/namespaces/{NS}/imagescans"
JOBS = f"/apis/batch/v1/namespaces/{NS}/jobs"


async def _create(session: aiohttp.ClientSession, url: str, count: int, prefix: str) -> None:
    sem = asyncio.Semaphore(20)

    async def one(i: int) -> None:
        meta = {
            "name": f"{prefix}{i}",
            "namespace": NS,
            "uid": f"u{prefix}{i}",
            "generation": 1,
            "resourceVersion": "1",
        }
        body = {
            "apiVersion": "cims.dev/v1alpha1",
            "kind": "ImageScan",
            "metadata": meta,
            "spec": {"image": f"registry.internal/team/app{i}:1", "tools": ["trivy"]},
        }
        async with (
            sem,
            session.post(
                url + PATH, data=json.dumps(body), headers={"Content-Type": "application/json"}
            ) as resp,
        ):
            assert resp.status < 300, await resp.text()

    await asyncio.gather(*(one(i) for i in range(count)))


async def _settled(session: aiohttp.ClientSession, url: str, prefix: str) -> int:
    async with session.get(url + PATH) as resp:
        items = (await resp.json())["items"]
    return sum(
        1
        for o in items
        if o["metadata"]["name"].startswith(prefix)
        and (o.get("status") or {}).get("phase") in ("Scanning", "Pending")
    )


async def _settle(
    session: aiohttp.ClientSession,
    url: str,
    prefix: str,
    count: int,
    deadline_s: float,
    *,
    start: float | None = None,
) -> tuple[int, float]:
    """Wait until `count` ImageScans named prefix* are Scanning or Pending: (how many, seconds)."""
    start = time.perf_counter() if start is None else start
    while (done := await _settled(session, url, prefix)) < count:
        if time.perf_counter() - start > deadline_s:
            break
        await asyncio.sleep(0.1)
    return done, time.perf_counter() - start


def _bridge_kmock() -> None:
    """Two kmock artifacts that swamp what is measured, bridged the way a real API server
    behaves (the operator's code is untouched; both are in kmock's internals, version 0.8):

    - Routing: for every request kmock asks each reaction "is this request among yours?" by
      walking its whole request history through each reaction's filters (O(history) filter
      calls per request, 25 ms each at 300 ImageScans). For chains of plain filters over the
      root, the answer is the request's own filter checks: that is what is computed here.
    - Replay: a watch re-sends every existing object as ADDED even when it starts from the
      resourceVersion of a list the client just made, so an operator started over N objects
      handles each twice. A real API server sends only what changed after that version.
    """
    plain = (dsl.Chained, dsl.Priority)
    contains = dsl.View.__contains__

    def fast_contains(view: dsl.View, item: object) -> bool:
        if isinstance(item, rendering.Request):
            node = view
            while True:
                if type(node) is dsl.Filter:
                    if not node.criteria(item):
                        return False
                    node = node._source
                elif type(node) in plain:
                    node = node._source
                elif isinstance(node, dsl.Root):
                    return any(request is item for request in node._requests)
                else:
                    break
        return contains(view, item)

    dsl.View.__contains__ = fast_contains  # type: ignore[method-assign,assignment]

    replaying = k8s.KubernetesEmulator._serve_watch

    async def serve_watch(self: Any, request: Any) -> Any:
        if not request.params.get("resourceVersion"):
            async for event in replaying(self, request):
                yield event
            return
        yield b""
        resource = request.resource
        check = self._KubernetesEmulator__check
        async for event in self._buses[resource]:
            meta = event.get("object", {}).get("metadata", {})
            if check(request, resource, meta.get("namespace"), meta.get("name"), strict=False):
                yield event

    k8s.KubernetesEmulator._serve_watch = serve_watch  # type: ignore[method-assign]


async def serve_kmock(port: int, bridged: bool) -> None:
    """The child process: kmock with the ImageScan resource, until killed."""
    if bridged:
        _bridge_kmock()
    async with kmock.KubernetesEmulator() as k8s, kmock.Server(k8s, port=port):
        k8s.resources["cims.dev/v1alpha1/imagescans"] = kmock.ResourceInfo(
            kind="ImageScan",
            namespaced=True,
            verbs={"list", "watch", "get", "create", "patch", "delete"},
            subresources={"status"},
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            k8s.resources.load_bundled()
        print("ready", flush=True)
        # kmock keeps every request and, for every new one, filters its whole history against
        # each reaction: serving N requests costs O(N^2), a mock artifact that swamps what is
        # measured. Nothing here reads the history, so only the recent requests are kept.
        while True:
            await asyncio.sleep(0.02)
            del k8s._requests[:-20]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def main(count: int, deadline_s: float, bridged: bool) -> None:
    tmp = Path(tempfile.mkdtemp())
    os.environ.update(
        {
            "CIMS_OPERATOR_SHARED_DIR": str(tmp / "shared"),
            "CIMS_OPERATOR_POLL_SECONDS": "30",
            "CIMS_OPERATOR_MAX_RUNNING": "10",
            "CIMS_OPERATOR_METRICS_PORT": "0",
        }
    )
    port = _free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), *([] if bridged else ["--raw-kmock"])],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        url = f"http://127.0.0.1:{port}"
        kubeconfig = tmp / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "k", "cluster": {"server": url}}],
                    "users": [{"name": "u", "user": {"token": "t"}}],
                    "contexts": [{"name": "k", "context": {"cluster": "k", "user": "u"}}],
                    "current-context": "k",
                }
            )
        )
        os.environ["KUBECONFIG"] = str(kubeconfig)
        kc.KUBE_CONFIG_DEFAULT_LOCATION = str(kubeconfig)
        async with aiohttp.ClientSession() as session:
            start = time.perf_counter()
            await _create(session, url, count, "base")
            baseline = time.perf_counter() - start
            runner = KopfRunner(
                ["run", "--standalone", "-A", str(HANDLERS)], registry=kopf.OperatorRegistry()
            )
            runner.__enter__()
            try:
                # 1. The operator starts over N ImageScans that exist already (a restart, or
                #    an install over applied manifests).
                existing = await _settle(session, url, "base", count, deadline_s)
                # 2. N more are applied while it runs (kubectl apply of a directory, GitOps).
                start = time.perf_counter()
                creating = asyncio.create_task(_create(session, url, count, "live"))
                live = await _settle(session, url, "live", count, deadline_s, start=start)
                await creating
                async with session.get(url + JOBS) as resp:
                    jobs = len((await resp.json())["items"])
            finally:
                await asyncio.to_thread(runner.__exit__, None, None, None)
    finally:
        child.kill()
        child.wait()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if not bridged:
        print("kmock as it is (--raw-kmock): its routing and watch replay are measured too")
    print(f"{count} ImageScans; kmock alone took {baseline:.1f} s to create them (baseline)")
    for what, (done, took) in (("started over them", existing), ("applied while running", live)):
        which = "every one" if done >= count else f"only {done} of {count} (deadline)"
        print(
            f"operator {what}: {which} Scanning or Pending after {took:.1f} s "
            f"= {done / took * 60:,.0f} ImageScans per minute (target >= 1000); "
            f"ratio to the baseline {took / baseline:.1f}"
        )
    print(f"scan Jobs created: {jobs} (the limit is 10: never more)")
    print(f"peak RSS of the operator process: {rss:.0f} MiB (target <= 200)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds to wait at most")
    parser.add_argument(
        "--raw-kmock", action="store_true", help="leave kmock's two artifacts (see the module doc)"
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    bridged = not args.raw_kmock
    asyncio.run(
        serve_kmock(args.serve, bridged) if args.serve else main(args.count, args.deadline, bridged)
    )
    sys.exit(0)
