from __future__ import annotations

import pytest
from cims.errors import InputError
from cims.model import ImageRef, Severity, check_digest, normalize_vuln_id

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("alpine", "docker.io", "library/alpine", None, None),
        ("alpine:3.19", "docker.io", "library/alpine", "3.19", None),
        ("bitnami/redis:7", "docker.io", "bitnami/redis", "7", None),
        ("index.docker.io/library/nginx", "docker.io", "library/nginx", None, None),
        (f"us.icr.io/team/app:1.2@{DIGEST}", "us.icr.io", "team/app", "1.2", DIGEST),
        (f"cp.stg.icr.io/cp/x/y@{DIGEST}", "cp.stg.icr.io", "cp/x/y", None, DIGEST),
        ("localhost:5000/a/b:c", "localhost:5000", "a/b", "c", None),
        ("127.0.0.1:5000/a_b/c-d__e", "127.0.0.1:5000", "a_b/c-d__e", None, None),
    ],
)
def test_image_ref_parses(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = ImageRef.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert ImageRef.parse(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty image reference"),
        ("Alpine", "must be lowercase"),
        ("alpine@sha256:abc", "expected 64 hex digits"),
        ("alpine@md5:" + "a" * 32, "only sha256"),
        ("alpine@" + "a" * 64, "lacks the 'sha256:' prefix"),
        ("a//b", "empty path component"),
        ("alpine:-x", "malformed tag"),
        ("https://icr.io/a/b", "drop the URL scheme"),
        ("a b", "white space"),
        ("a/b--/c", "path component"),
    ],
)
def test_image_ref_rejects_with_a_reason(text: str, says: str) -> None:
    with pytest.raises(InputError, match=says):
        ImageRef.parse(text)


def test_digest_upper_case_is_normalized() -> None:
    assert check_digest(DIGEST.upper().replace("SHA256", "sha256")) == DIGEST


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("CRITICAL", Severity.CRITICAL),
        ("Important", Severity.HIGH),
        ("moderate", Severity.MEDIUM),
        ("Negligible", Severity.NEGLIGIBLE),
        ("unimportant", Severity.NEGLIGIBLE),
        (None, Severity.UNKNOWN),
        (3, Severity.HIGH),
        (0, Severity.UNKNOWN),
    ],
)
def test_severity_words(word: object, expected: Severity) -> None:
    assert Severity.parse(word) is expected


@pytest.mark.parametrize("word", ["severe", 7, True, 2.5, ["high"]])
def test_unknown_severity_is_an_input_error(word: object) -> None:
    with pytest.raises(InputError, match="unknown severity"):
        Severity.parse(word, where="x.severity")


def test_vuln_ids_are_normalized() -> None:
    assert normalize_vuln_id(" cve-2021-44228 ") == "CVE-2021-44228"
    assert normalize_vuln_id("GHSA-JFH8-C2JP-5V3Q") == "GHSA-jfh8-c2jp-5v3q"
    assert normalize_vuln_id("DSA-5001-1") == "DSA-5001-1"
