"""A stand-in Prisma Cloud Compute console on loopback: ``GET /api/v1/images`` and
``/api/v1/registry`` answer lists of image objects, replaying the published API example
(tests/fixtures/twistlock/xsoar-prisma-api-image-alpine37.json). It checks the credentials
(Basic user:password or a Bearer token) and records what it was asked.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import JsonHandler, serve

IMAGE = (
    Path(__file__).parents[1] / "fixtures" / "twistlock" / "xsoar-prisma-api-image-alpine37.json"
)
USER, PASSWORD, TOKEN = "ci-user", "console-password-123", "console-token-456"


@dataclass
class Console:
    images: list[object] = field(default_factory=list)  # what /images answers
    registry: list[object] = field(default_factory=list)  # what /registry answers
    requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    raw: bytes | None = None  # answer this body to everything (garbage tests)
    delay_s: float = 0.0  # answer this late (timeout tests)


def the_image() -> dict[str, object]:
    return dict(json.loads(IMAGE.read_text()))


def _handler(console: Console) -> type[BaseHTTPRequestHandler]:
    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Handler(JsonHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            console.requests.append((url.path, parse_qs(url.query)))
            if self.headers.get("Authorization") not in (basic, f"Bearer {TOKEN}"):
                self._send(401, b'{"err": "unauthorized"}')
                return
            time.sleep(console.delay_s)
            if console.raw is not None:
                self._send(200, console.raw)
                return
            answers = {"/api/v1/images": console.images, "/api/v1/registry": console.registry}
            if url.path not in answers:
                self._send(404, b"{}")
                return
            self._send(200, json.dumps(answers[url.path]).encode())

    return Handler


@contextmanager
def prisma_console(console: Console) -> Iterator[str]:
    with serve(_handler(console)) as url:
        yield url
