"""One HTTP request to a scanner's service (VA, a Prisma Cloud console), within a deadline.

Errors name the tool and the service's host, never the path, query or headers (which may
carry account ids or tokens).
"""

from __future__ import annotations

import time
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from cims.errors import InputError, ToolError


def host_of(url: str) -> str:
    """``https://host:port`` of a URL."""
    return "/".join(url.split("/", 3)[:3])


def request(
    tool: str,
    url: str,
    *,
    deadline: float,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """(HTTP status, body); an error status is returned, not raised.

    Raises TimeoutError when the deadline (``time.monotonic()``) passes, ToolError when the
    service cannot be reached.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError(f"{tool}: no time left for the request")
    if not url.startswith(("https://", "http://")):
        raise InputError(f"{tool}: {url!r} is not an http(s) URL")
    method = "POST" if data else "GET"
    req = Request(url, data=data, headers=headers or {}, method=method)  # noqa: S310 (scheme checked above)
    try:
        with urlopen(req, timeout=min(remaining, 60)) as resp:  # noqa: S310 (scheme checked above)
            return int(resp.status), bytes(resp.read())
    except HTTPError as err:
        return int(err.code), err.read() or b""
    except TimeoutError:
        raise TimeoutError(f"{tool}: no answer from {host_of(url)} in time") from None
    except URLError as err:
        raise ToolError(f"{tool}: cannot reach {host_of(url)}: {err.reason}") from None
