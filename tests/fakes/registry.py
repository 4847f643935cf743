"""A real registry for tests: Debian's docker-registry on loopback, and a tiny image pushed to it
over the Registry HTTP API (as any client does), so no Docker daemon is needed."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.request import Request, urlopen

import pytest

from tests.conftest import free_port

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


@contextmanager
def local_registry(tmp: Path) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a running docker-registry; skips where it is not installed."""
    exe = shutil.which("docker-registry")
    if exe is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    port = free_port()
    config = tmp / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(
        [exe, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                with urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _upload(host: str, repo: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    req = Request(f"http://{host}/v2/{repo}/blobs/uploads/", method="POST", data=b"")
    with urlopen(req) as resp:
        location = resp.headers["Location"]
    if location.startswith("/"):
        location = f"http://{host}{location}"
    sep = "&" if "?" in location else "?"
    put = Request(
        f"{location}{sep}digest={digest}",
        method="PUT",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    with urlopen(put):
        pass
    return digest


def push_image(host: str, repo: str, tag: str, marker: str = "cims") -> str:
    """Push a one-layer image; returns its manifest digest (Docker-Content-Digest)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        body = f"{marker}\n".encode()
        info = tarfile.TarInfo("etc/cims-test")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    layer = buf.getvalue()
    layer_digest = _upload(host, repo, layer)
    diff_id = "sha256:" + hashlib.sha256(tarfile_bytes(layer)).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "config": {},
        }
    ).encode()
    config_digest = _upload(host, repo, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": config_digest,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": layer_digest,
                }
            ],
        }
    ).encode()
    req = Request(
        f"http://{host}/v2/{repo}/manifests/{tag}",
        method="PUT",
        data=manifest,
        headers={"Content-Type": MANIFEST_V2},
    )
    with urlopen(req) as resp:
        return str(resp.headers["Docker-Content-Digest"])


def tarfile_bytes(gz: bytes) -> bytes:
    import gzip

    return gzip.decompress(gz)
