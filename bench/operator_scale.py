"""Benchmark: N ImageScans against kmock; time until every one has its Job or waits under the
limit (phase Scanning or Pending), ImageScans per minute, peak RSS of the operator process.
Targets: >= 1000 per minute, <= 200 MB. kmock serves from a child process (so the mock API
server does not share the operator's interpreter); the baseline is the same kmock answering
N creations with no operator, measured in the same run.
Run: ``.venv/bin/python bench/operator_scale.py [--count 1000]``.
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

import aiohttp
import kmock
import kopf
import kubernetes.config.kube_config as kc
import yaml
from kopf.testing import KopfRunner

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = ROOT / "operator" / "cims" / "k8s" / "handlers.py"
NS = "bench"
PATH = f"/apis/cims.dev/v1alpha1/namespaces/{NS}/imagescans"


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


async def serve_kmock(port: int) -> None:
    """The child process: kmock with the ImageScan resource, until killed."""
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


async def main(count: int, deadline_s: float) -> None:
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
        [sys.executable, __file__, "--serve", str(port)], stdout=subprocess.PIPE, text=True
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
                start = time.perf_counter()
                while (done := await _settled(session, url, "base")) < count:
                    if time.perf_counter() - start > deadline_s:
                        break
                    await asyncio.sleep(0.5)
                settled = time.perf_counter() - start
            finally:
                await asyncio.to_thread(runner.__exit__, None, None, None)
    finally:
        child.kill()
        child.wait()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{count} ImageScans; kmock alone took {baseline:.1f} s to create them (baseline)")
    which = "every one" if done >= count else f"only {done} of {count} (deadline)"
    print(
        f"operator: {which} Scanning or Pending after {settled:.1f} s "
        f"= {done / settled * 60:,.0f} ImageScans per minute (target >= 1000); "
        f"ratio to the baseline {settled / baseline:.1f}"
    )
    print(f"peak RSS of the operator process: {rss:.0f} MiB (target <= 200)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds to wait at most")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    asyncio.run(serve_kmock(args.serve) if args.serve else main(args.count, args.deadline))
    sys.exit(0)
