"""Run one scanner process: its own timeout, its process group killed on expiry, secrets hidden."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cims.errors import ToolError
from cims.scanners.interface import Invocation

TAIL = 400  # characters of stderr kept for a message


@dataclass(frozen=True)
class ProcessResult:
    returncode: int
    stderr_tail: str
    duration_s: float


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced (longest first, so overlaps do not leak)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def shown_argv(inv: Invocation) -> str:
    """The command line as it may be logged: secrets replaced."""
    return redact(" ".join(inv.argv), inv.secrets)


def run(inv: Invocation, timeout_s: float, base_env: Mapping[str, str]) -> ProcessResult:
    """Run ``inv``; raise TimeoutError past ``timeout_s`` (the whole process group is killed)."""
    exe = inv.argv[0]
    if shutil.which(exe, path=base_env.get("PATH")) is None and not os.path.isfile(exe):
        raise ToolError(f"{exe} not found: install it in the CIMS image or name it in its setting")
    env = {**base_env, **inv.env}
    start = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603 (argv built by the adapters, no shell)
        inv.argv,
        stdin=subprocess.PIPE if inv.stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
        text=True,
    )
    try:
        _, stderr = proc.communicate(inv.stdin, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise TimeoutError(f"no result after {timeout_s:g} s; the process was stopped") from None
    return ProcessResult(
        returncode=proc.returncode,
        stderr_tail=redact((stderr or "").strip()[-TAIL:], inv.secrets),
        duration_s=time.monotonic() - start,
    )


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
