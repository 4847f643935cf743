"""Digest resolution against a real registry (Debian's docker-registry on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cims.errors import CimsError, InputError
from cims.model import ImageRef
from cims.oci import manifest_digest, pinned

from tests.fakes.registry import local_registry, push_image


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_registry(tmp_path_factory.mktemp("registry")) as host:
        yield host


def test_tag_resolves_to_the_pushed_digest(registry: str) -> None:
    digest = push_image(registry, "team/app", "1.0")
    assert manifest_digest(ImageRef.parse(f"{registry}/team/app:1.0"), {}) == digest
    assert pinned(ImageRef.parse(f"{registry}/team/app:1.0"), None, {}).digest == digest


def test_a_given_digest_must_match_the_registry(registry: str) -> None:
    digest = push_image(registry, "team/app", "2.0", marker="two")
    other = push_image(registry, "team/other", "1", marker="other")
    assert pinned(ImageRef.parse(f"{registry}/team/app:2.0"), digest, {}).digest == digest
    with pytest.raises(InputError, match="refusing to scan another image than asked"):
        pinned(ImageRef.parse(f"{registry}/team/app:2.0"), other, {})


def test_digest_only_reference_must_exist(registry: str) -> None:
    missing = "sha256:" + "0" * 64
    with pytest.raises(InputError, match="HTTP 404"):
        pinned(ImageRef.parse(f"{registry}/team/app@{missing}"), None, {})


def test_unknown_tag_is_a_clear_error(registry: str) -> None:
    with pytest.raises(InputError, match="is not in the registry"):
        manifest_digest(ImageRef.parse(f"{registry}/team/app:nope"), {})


def test_unreachable_registry_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CimsError, match="unreachable"):
        manifest_digest(ImageRef.parse("127.0.0.1:9/team/app:1"), {})


def test_a_digest_maps_back_to_its_tag(registry: str) -> None:
    from cims.oci import tag_of

    digest = push_image(registry, "team/tags", "3.1", marker="tags")
    push_image(registry, "team/tags", "3.0", marker="older")
    image = ImageRef.parse(f"{registry}/team/tags@{digest}")
    assert tag_of(image, {}) == "3.1"
    assert tag_of(image.with_digest("sha256:" + "9" * 64), {}) is None
