"""twistlock through a Prisma Cloud console's API (CIMS_TWISTLOCK_SOURCE=console), against a
loopback stand-in console that replays the published API example."""

from __future__ import annotations

import json

import pytest
from cims.errors import InputError
from cims.model import ImageRef, Severity
from cims.runtime.scan import scan_image
from cims.scanners import prisma_api

from tests.fakes.prisma_console import PASSWORD, TOKEN, USER, Console, prisma_console, the_image

DIGEST = "sha256:0bfa24a116efb99c51076ee3801ee8de80e5998a0f85522599c7036dea8a67f1"
IMAGE = ImageRef.parse(f"demisto/python:1.3-alpine@{DIGEST}")


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {
        "CIMS_TWISTLOCK_SOURCE": "console",
        "CIMS_TWISTLOCK_ADDRESS": url,
        "CIMS_TWISTLOCK_USER": USER,
        "CIMS_TWISTLOCK_PASSWORD": PASSWORD,
        "PATH": "/usr/bin:/bin",
    }
    env.update(extra)
    return env


def test_the_consoles_scan_of_the_digest_is_read() -> None:
    other = {**the_image(), "_id": "sha256:other", "id": "sha256:other", "repoDigests": []}
    console = Console(images=[other], registry=[other, the_image()])
    with prisma_console(console) as url:
        (o,) = scan_image(IMAGE, ["twistlock"], env=_env(url))
    assert o.run.status == "ok", o.run.message
    assert (o.run.source, o.report.report_format) == ("twistlock-console", "prisma-compute-api")
    assert [(f.vuln_id, f.severity) for f in o.report.findings] == [
        ("CVE-2018-20679", Severity.HIGH),
        ("CVE-2018-1000517", Severity.CRITICAL),
    ]
    # searched by repository, /images first, then the registry scans
    assert [(p, q["search"]) for p, q in console.requests] == [
        ("/api/v1/images", ["demisto/python"]),
        ("/api/v1/registry", ["demisto/python"]),
    ]


def test_a_token_alone_is_enough() -> None:
    console = Console(images=[the_image()])
    with prisma_console(console) as url:
        env = _env(url, CIMS_TWISTLOCK_TOKEN=TOKEN)
        del env["CIMS_TWISTLOCK_USER"], env["CIMS_TWISTLOCK_PASSWORD"]
        (o,) = scan_image(IMAGE, ["twistlock"], env=env)
        env["CIMS_TWISTLOCK_TOKEN"] = "not-the-token"
        (refused,) = scan_image(IMAGE, ["twistlock"], env=env)
    assert o.run.status == "ok", o.run.message
    assert "HTTP 401" in refused.run.message
    assert "not-the-token" not in refused.run.message


@pytest.mark.parametrize(
    ("console", "env", "says"),
    [
        (Console(images=[]), {}, "has no scan of docker.io/demisto/python@sha256:0bfa"),
        (
            Console(images=[the_image()]),
            {"CIMS_TWISTLOCK_PASSWORD": "wrong"},
            "refused the credentials (HTTP 401)",
        ),
        (Console(raw=b"<html>login</html>"), {}, "answered with something that is not JSON"),
        (
            Console(images=[the_image()]),
            {"CIMS_TWISTLOCK_API": "/api/v99"},
            "HTTP 404 from the console's /images API",
        ),
    ],
)
def test_console_faults_mark_only_twistlock(
    console: Console, env: dict[str, str], says: str
) -> None:
    with prisma_console(console) as url:
        (o,) = scan_image(IMAGE, ["twistlock"], env=_env(url, **env))
    assert o.run.status == "failed"
    assert says in o.run.message
    assert "wrong" not in o.run.message
    assert PASSWORD not in o.run.message


def test_an_unreachable_console_and_a_bad_source_are_one_line() -> None:
    (o,) = scan_image(IMAGE, ["twistlock"], env=_env("http://127.0.0.1:9"))
    assert (
        o.run.status,
        o.run.message.startswith("twistlock: cannot reach http://127.0.0.1:9"),
    ) == (
        "failed",
        True,
    )
    with pytest.raises(InputError, match="CIMS_TWISTLOCK_SOURCE='cloud': use twistcli"):
        prisma_api.wants_console({"CIMS_TWISTLOCK_SOURCE": "cloud"})


def test_a_slow_console_times_out_only_twistlock() -> None:
    with prisma_console(Console(images=[the_image()], delay_s=3)) as url:
        (o,) = scan_image(IMAGE, ["twistlock"], env=_env(url), timeout_s=1)
    assert o.run.status == "timed-out"
    assert "no answer from http://127.0.0.1" in o.run.message


def test_a_truncated_answer_is_one_line() -> None:
    body = json.dumps([the_image()]).encode()
    with prisma_console(Console(raw=body[: len(body) // 2])) as url:
        (o,) = scan_image(IMAGE, ["twistlock"], env=_env(url))
    assert o.run.status == "failed"
    assert o.run.message == (
        "twistlock: the console's /images API answered with something that is not JSON"
    )
