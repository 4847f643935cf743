"""Run a ``cims`` command inside the CIMS image through the Docker SDK (as the pipeline does).

The DB folder is mounted at /data, the scanner settings (CIMS_*, TRIVY_*, GRYPE_*, SYFT_*)
and the variables $CIMS_CONTAINER_ENV names pass as environment (never argv), files named by
*_FILE settings and the docker config are mounted read-only at the same paths. The container
shares the host network, so scanners on the internal network and loopback registries are
reachable as from the host.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cims.errors import InputError, ToolError

PASS_PREFIXES = ("CIMS_", "TRIVY_", "GRYPE_", "SYFT_")
IMAGE_USER = 10001


def container_env(env: Mapping[str, str]) -> dict[str, str]:
    """Scanner settings, plus the variables $CIMS_CONTAINER_ENV names (e.g. HTTPS_PROXY)."""
    extra = {n.strip() for n in env.get("CIMS_CONTAINER_ENV", "").split(",") if n.strip()}
    out = {k: v for k, v in env.items() if k.startswith(PASS_PREFIXES) or k in extra}
    out.pop("CIMS_DB", None)
    out.pop("CIMS_IMAGE", None)
    return out


def mounts(env: Mapping[str, str], db_dir: Path) -> dict[str, dict[str, str]]:
    volumes = {str(db_dir): {"bind": "/data", "mode": "rw"}}
    for key, value in env.items():
        if key.endswith("_FILE") and key.startswith(PASS_PREFIXES) and value:
            path = Path(value).resolve()
            volumes[str(path)] = {"bind": str(path), "mode": "ro"}
    tools = env.get("CIMS_CONTAINER_TOOLS")
    if tools:
        volumes[str(Path(tools).resolve())] = {"bind": "/opt/cims/tools", "mode": "ro"}
    docker_config = env.get("DOCKER_CONFIG") or str(Path(env.get("HOME", "/")) / ".docker")
    if (Path(docker_config) / "config.json").exists():
        volumes[str(Path(docker_config).resolve())] = {"bind": "/home/cims/.docker", "mode": "ro"}
    return volumes


def _writable_by_image_user(folder: Path) -> bool:
    st = folder.stat()
    return bool(st.st_mode & 0o002) or (st.st_uid == IMAGE_USER and bool(st.st_mode & 0o200))


def run_cims(
    image: str,
    args: Sequence[str],
    db_path: Path,
    env: Mapping[str, str] | None = None,
    extra_mounts: Mapping[str, dict[str, str]] | None = None,
) -> int:
    """Run ``cims ARGS --db /data/<name>`` in ``image``; its output is relayed; its exit code."""
    try:
        from docker.errors import DockerException, ImageNotFound  # noqa: PLC0415

        import docker  # noqa: PLC0415 (optional dependency, only for --container)
    except ImportError:
        raise InputError(
            "--container needs the Docker SDK: pip install 'cims[container]'"
        ) from None
    environ = os.environ if env is None else env
    db_dir = db_path.resolve().parent
    db_dir.mkdir(parents=True, exist_ok=True)
    uid = os.getuid()
    user = f"{uid}:{os.getgid()}" if uid != 0 else f"{IMAGE_USER}:{IMAGE_USER}"
    if (uid == 0 and not os.access(db_dir, os.W_OK)) or (
        uid == 0 and db_dir.stat().st_mode & 0o002 == 0
    ):
        raise InputError(
            f"DB folder {db_dir} must be writable by uid {IMAGE_USER}, the CIMS image's user "
            f"(chown {IMAGE_USER} {db_dir}, or run cims as a non-root user)"
        )
    volumes: dict[str, dict[str, str]] = {**mounts(environ, db_dir), **(extra_mounts or {})}
    try:
        client = docker.from_env()
        container: Any = client.containers.run(
            image,
            command=[*args, "--db", f"/data/{db_path.name}"],
            environment={**container_env(environ), "HOME": "/home/cims"},
            volumes=volumes,
            network_mode="host",
            user=user,
            detach=True,
        )
    except ImageNotFound:
        raise InputError(
            f"CIMS image {image!r} not found: build it with scripts/build-image"
        ) from None
    except DockerException as err:
        raise ToolError(f"cannot run the CIMS image through Docker: {err}") from None
    try:
        status = container.wait()
        sys.stdout.write(container.logs(stdout=True, stderr=False).decode())
        sys.stderr.write(container.logs(stdout=False, stderr=True).decode())
        return int(status.get("StatusCode", 1))
    finally:
        container.remove(force=True)
        client.close()
