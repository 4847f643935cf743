"""Registry HTTP API v2: the manifest digest of a tag, with the credentials of a docker config.

Used to resolve ``NAME:TAG`` to ``NAME@sha256:...`` before a scan and to refuse a scan whose
given digest the registry does not have. Anonymous first; on 401 the Bearer or Basic challenge
is answered with the docker config's credentials for that registry (never logged).
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from cims.errors import InputError, ToolError
from cims.model import DOCKER_HUB, ImageRef, check_digest

ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
TIMEOUT_S = 30.0


def plain_http(registry: str, env: Mapping[str, str]) -> bool:
    """Loopback registries and those in $CIMS_INSECURE_REGISTRIES speak plain HTTP."""
    insecure = {h.strip() for h in env.get("CIMS_INSECURE_REGISTRIES", "").split(",") if h.strip()}
    return registry in insecure or registry.split(":", 1)[0] in ("localhost", "127.0.0.1")


def _endpoint(registry: str, env: Mapping[str, str]) -> str:
    host = "registry-1.docker.io" if registry == DOCKER_HUB else registry
    return f"{'http' if plain_http(registry, env) else 'https'}://{host}"


def docker_credentials(registry: str, env: Mapping[str, str]) -> tuple[str, str] | None:
    """(user, password) for ``registry`` from $DOCKER_CONFIG/config.json (``auths``)."""
    folder = Path(env.get("DOCKER_CONFIG") or Path(env.get("HOME", "/")) / ".docker")
    path = folder / "config.json"
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise InputError(f"docker config {path} is unreadable: {err}") from None
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        return None
    keys = [registry, f"https://{registry}", f"http://{registry}"]
    if registry == DOCKER_HUB:
        keys += ["https://index.docker.io/v1/", "index.docker.io"]
    for key in keys:
        entry = auths.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("auth"), str):
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            return user, password
    return None


def _request(url: str, headers: dict[str, str], method: str) -> tuple[int, dict[str, str], bytes]:
    if not url.startswith(("https://", "http://")):
        raise InputError(f"{url!r} is not an http(s) URL")
    req = Request(url, headers=headers, method=method)  # noqa: S310 (scheme checked above)
    try:
        with urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310 (scheme checked above)
            return int(resp.status), dict(resp.headers.items()), bytes(resp.read())
    except HTTPError as err:
        return int(err.code), dict(err.headers.items()), b""
    except (URLError, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ToolError(
            f"registry {url.split('/v2/', maxsplit=1)[0]} is unreachable: {reason}"
        ) from None


def _basic(creds: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()


def _auth_header(challenge: str, creds: tuple[str, str] | None) -> str | None:
    scheme, _, params = challenge.partition(" ")
    if scheme.lower() == "basic":
        return _basic(creds) if creds is not None else None
    if scheme.lower() != "bearer":
        return None
    fields = dict(_CHALLENGE.findall(params))
    realm = fields.pop("realm", "")
    headers = {}
    if creds is not None:
        headers["Authorization"] = _basic(creds)
    status, _, body = _request(f"{realm}?{urlencode(fields)}", headers, "GET")
    if status != 200:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    token = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
    return f"Bearer {token}" if isinstance(token, str) and token else None


def _authed(
    url: str,
    headers: dict[str, str],
    method: str,
    *,
    image: ImageRef,
    env: Mapping[str, str],
    creds: tuple[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """A registry request, answering a 401 challenge with the docker config's (or given) creds."""
    status, got, body = _request(url, headers, method)
    if status == 401:
        challenge = next((v for k, v in got.items() if k.lower() == "www-authenticate"), "")
        auth = _auth_header(challenge, creds or docker_credentials(image.registry, env))
        if auth is None:
            raise InputError(
                f"registry {image.registry} wants credentials for {image.repository}: "
                "log in (docker login) or mount a docker config with DOCKER_CONFIG"
            )
        status, got, body = _request(url, {**headers, "Authorization": auth}, method)
    if status in (401, 403):
        raise InputError(f"registry {image.registry} refused access to {image.repository}")
    return status, got, body


def manifest_digest(
    image: ImageRef, env: Mapping[str, str] | None = None, creds: tuple[str, str] | None = None
) -> str:
    """The registry's digest for the image's tag (or, for a digest reference, that it exists)."""
    environ = os.environ if env is None else env
    reference = image.digest or image.tag or "latest"
    url = f"{_endpoint(image.registry, environ)}/v2/{image.repository}/manifests/{reference}"
    status, got, _ = _authed(url, {"Accept": ACCEPT}, "HEAD", image=image, env=environ, creds=creds)
    if status == 404:
        raise InputError(f"{image} is not in the registry (HTTP 404): check the name and tag")
    if status != 200:
        raise ToolError(f"registry {image.registry} answered HTTP {status} for {image}")
    digest = next((v for k, v in got.items() if k.lower() == "docker-content-digest"), None)
    if digest is None:
        raise ToolError(f"registry {image.registry} sent no Docker-Content-Digest for {image}")
    return check_digest(digest, what=f"digest the registry sent for {image}")


MAX_TAGS = 500


def tag_of(
    image: ImageRef, env: Mapping[str, str] | None = None, creds: tuple[str, str] | None = None
) -> str | None:
    """A tag of the repository that points at ``image.digest`` (for tools that need tags)."""
    environ = os.environ if env is None else env
    url = f"{_endpoint(image.registry, environ)}/v2/{image.repository}/tags/list?n={MAX_TAGS}"
    status, _, body = _authed(
        url, {"Accept": "application/json"}, "GET", image=image, env=environ, creds=creds
    )
    if status != 200:
        raise ToolError(f"registry {image.registry} answered HTTP {status} listing tags")
    try:
        tags = json.loads(body).get("tags") or []
    except (ValueError, AttributeError):
        raise ToolError(f"registry {image.registry} sent a tag list that is not JSON") from None
    for tag in sorted(t for t in tags if isinstance(t, str)):
        untagged = image.model_copy(update={"tag": tag, "digest": None})
        if manifest_digest(untagged, environ, creds) == image.digest:
            return tag
    return None


def pinned(image: ImageRef, digest: str | None, env: Mapping[str, str] | None = None) -> ImageRef:
    """``image`` with its digest: the given one checked against the registry, else resolved."""
    given = digest or image.digest
    if given and image.digest and given != image.digest:
        raise InputError(f"--digest {given} differs from the digest in {image}")
    if given and image.tag:
        actual = manifest_digest(image.model_copy(update={"digest": None}), env)
        if actual != given:
            raise InputError(
                f"{image.name}:{image.tag} is {actual} in the registry, not the given {given}; "
                "refusing to scan another image than asked"
            )
        return image.with_digest(given)
    if given:
        manifest_digest(image.with_digest(given), env)  # it must exist
        return image.with_digest(given)
    return image.with_digest(manifest_digest(image, env))
