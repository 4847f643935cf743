"""Field-level checks on chosen records of real reports."""

from __future__ import annotations

import json

import pytest
from cims.errors import InputError
from cims.model import Severity
from cims.scanners.registry import parse_file, parse_report

from tests.conftest import FIXTURES, load


def test_trivy_vendor_ratings_cvss_and_layer() -> None:
    report, _ = parse_file(FIXTURES / "trivy" / "golden-alpine310-2026.json")
    f = report.findings[0]
    raw = load(FIXTURES / "trivy" / "golden-alpine310-2026.json")["Results"][0]["Vulnerabilities"][
        0
    ]
    assert (f.vuln_id, f.package_name, f.installed_version) == (
        raw["VulnerabilityID"],
        raw["PkgName"],
        raw["InstalledVersion"],
    )
    assert f.fixed_versions == (raw["FixedVersion"],)
    assert f.purl == raw["PkgIdentifier"]["PURL"]
    assert f.package_type == "apk"
    assert f.vendor_severities["redhat"] is Severity.LOW  # Trivy's number 1
    assert f.vendor_severities["nvd"] is Severity.MEDIUM
    nvd3 = next(c for c in f.cvss if c.source == "nvd" and c.version.startswith("3"))
    assert (nvd3.vector, nvd3.score) == (
        raw["CVSS"]["nvd"]["V3Vector"],
        raw["CVSS"]["nvd"]["V3Score"],
    )
    assert f.layer_digest == raw["Layer"]["Digest"]
    assert report.tool_version == "dev"
    assert report.os == "alpine 3.10.2"


def test_trivy_cvss_v4_is_kept() -> None:
    report, _ = parse_file(FIXTURES / "trivy" / "dd-cvssv4-catalina-jar.json")
    versions = {c.version for f in report.findings for c in f.cvss}
    assert "4.0" in versions
    assert {f.package_type for f in report.findings} == {"maven"}


def test_trivy_non_vulnerability_results_are_skipped_with_a_reason() -> None:
    report, _ = parse_file(FIXTURES / "trivy" / "dd-misconfig-secrets-fs.json")
    assert any("misconfigurations" in s for s in report.skipped)
    assert any("secrets" in s for s in report.skipped)


def test_trivy_legacy_record_without_id_is_skipped_with_a_reason() -> None:
    report, _ = parse_file(FIXTURES / "trivy" / "dd-legacy-mix-lockfiles.json")
    assert any("no VulnerabilityID" in s for s in report.skipped)
    assert {f.package_type for f in report.findings} >= {"npm", "apk"}


def test_grype_related_vulnerabilities_become_aliases() -> None:
    report, _ = parse_file(FIXTURES / "grype" / "dd-vulnerable-image-debian10-allfields.json")
    doc = load(FIXTURES / "grype" / "dd-vulnerable-image-debian10-allfields.json")
    ghsa = [m for m in doc["matches"] if m["vulnerability"]["id"].startswith("GHSA")]
    assert ghsa, "fixture should hold a GHSA match"
    related = {r["id"] for r in ghsa[0]["relatedVulnerabilities"]}
    f = next(x for x in report.findings if x.vuln_id == ghsa[0]["vulnerability"]["id"])
    assert set(f.aliases) == related
    assert f.package_type == "pypi" or f.package_type == ghsa[0]["artifact"]["type"]


def test_grype_upstream_names_the_source_package() -> None:
    report, _ = parse_file(FIXTURES / "grype" / "dd-ubuntu2004-redacted-fix-available.json")
    doc = load(FIXTURES / "grype" / "dd-ubuntu2004-redacted-fix-available.json")
    match = doc["matches"][0]
    f = report.findings[0]
    assert f.fixed_versions == tuple(match["vulnerability"]["fix"]["versions"])
    assert report.manifest_digests[0] == doc["source"]["target"]["manifestDigest"]


def test_twistlock_source_package_and_binaries() -> None:
    report, _ = parse_file(FIXTURES / "twistlock" / "dd-twistcli-debian9-many.json")
    glibc = next(f for f in report.findings if f.vuln_id == "CVE-2018-6485")
    assert glibc.source_name == "glibc"
    assert glibc.binary_names == ("libc6", "multiarch-support", "libc-bin")
    assert glibc.package_type == "deb"
    assert glibc.severity is Severity.HIGH
    assert glibc.cvss[0].score == 9.8
    assert glibc.cvss[0].version == "3.0"


def test_twistlock_fixed_in_status() -> None:
    report, _ = parse_file(FIXTURES / "twistlock" / "dd-twistcli-one-vuln-no-link.json")
    (f,) = report.findings
    assert (f.vuln_id, f.fixed_versions, f.links) == ("PRISMA-2021-0013", ("1.1.1",), ())


def test_prisma_console_api_image_object() -> None:
    path = FIXTURES / "twistlock" / "xsoar-prisma-api-image-alpine37.json"
    doc = load(path)
    report, _ = parse_file(path)
    assert report.report_format == "prisma-compute-api"
    assert report.tool == "twistlock"
    assert report.image_name == "demisto/python:1.3-alpine"
    assert report.manifest_digests == (doc["repoDigests"][0].split("@")[1],)
    assert report.tool_version == doc["scanVersion"]
    first, raw = report.findings[0], doc["vulnerabilities"][0]
    assert (first.vuln_id, first.package_name, first.installed_version) == (
        raw["cve"],
        raw["packageName"],
        raw["packageVersion"],
    )
    assert first.package_type == "apk"  # pkgsType "package" on an alpine image
    assert first.fixed_versions == (raw["status"].removeprefix("fixed in "),)
    assert first.cvss[0].vector == raw["vecStr"]
    assert first.cvss[0].score == raw["cvss"]
    assert first.published == "2019-01-09T16:29:00Z"  # Unix seconds 1547051340
    assert report.skipped == ["prisma api[0]: 1 compliance issues (not CVEs)"]


def test_prisma_console_api_envelopes() -> None:
    """/images answers a list of image objects, /scans wraps each in entityInfo."""
    path = FIXTURES / "twistlock" / "xsoar-prisma-api-image-alpine37.json"
    image = load(path)
    one, _ = parse_report(path.read_bytes(), "one.json")
    listed, _ = parse_report(json.dumps([image]).encode(), "list.json")
    scans, _ = parse_report(json.dumps([{"entityInfo": image, "pass": True}]).encode(), "s.json")
    assert one.findings == listed.findings == scans.findings
    two = [image, {**image, "_id": "sha256:other", "id": "sha256:other"}]
    with pytest.raises(InputError, match="the answer holds 2 images"):
        parse_report(json.dumps(two).encode(), "two.json")


def test_aqua_keeps_its_own_and_the_vendor_rating() -> None:
    path = FIXTURES / "aqua" / "dd-aqua-scanner-debian10-aqua-severity.json"
    report, _ = parse_file(path)
    apt = next(f for f in report.findings if f.vuln_id == "CVE-2011-3374")
    assert apt.severity is Severity.CRITICAL  # aqua_severity
    assert apt.vendor_severities["debian"] is Severity.NEGLIGIBLE  # "unimportant"
    assert apt.vendor_severities["nvd"] is Severity.LOW
    assert apt.source_name == "apt"


def test_aqua_api_listing_of_one_image() -> None:
    report, _ = parse_file(FIXTURES / "aqua" / "dd-aqua-api-v2-risks.json")
    doc = load(FIXTURES / "aqua" / "dd-aqua-api-v2-risks.json")
    assert report.manifest_digests == (doc["result"][0]["image_digest"],)
    assert report.findings[0].package_type == "npm"


def test_anchore_negative_score_sentinel_is_no_score() -> None:
    report, _ = parse_file(FIXTURES / "anchore" / "dd-anchore-engine-java-war.json")
    scores = [c.score for f in report.findings for c in f.cvss]
    assert scores
    assert all(s is not None and s >= 0 for s in scores)
    assert report.findings[0].fixed_versions == ()  # "None"


def test_snyk_identifiers_and_source_binary_names() -> None:
    report, _ = parse_file(FIXTURES / "snyk" / "dd-snyk-container-juiceshop.json")
    gcc = report.findings[0]
    assert (gcc.package_name, gcc.source_name, gcc.package_type) == ("libgcc-s1", "gcc-10", "deb")
    assert gcc.aliases == ("CVE-2023-4039",)
    sanitize = next(f for f in report.findings if f.vuln_id == "npm:sanitize-html:20161026")
    assert "GHSA-xc6g-ggrc-qq4r" in sanitize.aliases
    assert "CVE-2017-16016" in sanitize.aliases


def test_cyclonedx_purl_and_ratings() -> None:
    report, _ = parse_file(FIXTURES / "trivy" / "golden-centos7-cyclonedx.json")
    f = next(x for x in report.findings if x.vuln_id == "CVE-2019-18276")
    assert (f.package_name, f.package_type, f.installed_version) == ("bash", "rpm", "4.2.46-31.el7")
    assert f.vendor_severities["redhat"] is Severity.LOW
    assert report.tool == "trivy"


def test_sarif_reads_the_trivy_message() -> None:
    report, _ = parse_file(FIXTURES / "trivy" / "golden-alpine310.sarif.json")
    f = report.findings[0]
    assert (f.vuln_id, f.package_name, f.installed_version, f.fixed_versions) == (
        "CVE-2019-1549",
        "libcrypto1.1",
        "1.1.1c-r0",
        ("1.1.1d-r0",),
    )
    assert f.severity is Severity.MEDIUM
    assert report.image_id
    assert report.image_id.startswith("sha256:96176")


def test_va_notice_is_an_alias_and_the_severity_a_configurable_default(
    monkeypatch: object,
) -> None:
    import pytest

    path = FIXTURES / "va" / "ibm-sdk-test-image-report.json"
    report, _ = parse_file(path)
    (f,) = report.findings
    assert f.aliases == ("notice_id",)
    assert f.severity is Severity.HIGH
    assert f.severity_source == "va-default"
    assert f.package_type == "deb"  # os_distribution debian
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("CIMS_VA_DEFAULT_SEVERITY", "medium")
        report, _ = parse_file(path)
        assert report.findings[0].severity is Severity.MEDIUM
    finally:
        mp.undo()
