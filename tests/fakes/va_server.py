"""A stand-in for IBM Cloud IAM and the Vulnerability Advisor v4 API on loopback.

It checks what a real VA client must send (the IAM grant type and API key, the Bearer token,
the Account header), replays IBM's own test report, and can answer 401, 404 (not scanned
yet), INCOMPLETE, slowly, or with a truncated body.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, unquote

from tests.fakes.loopback import JsonHandler, serve

REPORT = Path(__file__).parents[1] / "fixtures" / "va" / "ibm-sdk-test-image-report.json"
TOKEN = "iam-access-token-xyz"


@dataclass
class Scenario:
    apikey: str = "va-api-key-123"
    account: str = "acct-42"
    iam_status: int = 200
    pending: list[int | str] = field(default_factory=list)  # 404s and states before OK
    report_delay_s: float = 0.0
    truncate: bool = False
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


def _handler(scenario: Scenario) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            form = parse_qs(self.rfile.read(length).decode())
            scenario.requests.append(("POST", self.path, dict(self.headers.items())))
            ok = (
                self.path == "/identity/token"
                and form.get("grant_type") == ["urn:ibm:params:oauth:grant-type:apikey"]
                and form.get("apikey") == [scenario.apikey]
                and scenario.iam_status == 200
            )
            if not ok:
                self._send(scenario.iam_status if scenario.iam_status != 200 else 400, b"{}")
                return
            self._send(200, json.dumps({"access_token": TOKEN, "token_type": "Bearer"}).encode())

        def do_GET(self) -> None:
            scenario.requests.append(("GET", unquote(self.path), dict(self.headers.items())))
            if (
                self.headers.get("Authorization") != f"Bearer {TOKEN}"
                or self.headers.get("Account") != scenario.account
            ):
                self._send(401, b'{"message": "unauthorized"}')
                return
            if self.path.startswith("/va/api/v4/report/image/status/"):
                step = scenario.pending.pop(0) if scenario.pending else "OK"
                if step == 404:
                    self._send(404, b'{"message": "not found"}')
                else:
                    self._send(200, json.dumps({"status": step}).encode())
                return
            if self.path.startswith("/va/api/v4/report/image/"):
                time.sleep(scenario.report_delay_s)
                body = REPORT.read_bytes()
                self._send(200, body[: len(body) // 2] if scenario.truncate else body)
                return
            self._send(404, b"{}")

    return Handler


@contextmanager
def va_server(scenario: Scenario) -> Iterator[str]:
    with serve(_handler(scenario)) as url:
        yield url
