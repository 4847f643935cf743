"""Correlation on real reports: merges what is the same, never what is not."""

from __future__ import annotations

from collections import Counter

from cims.correlate.aliases import AliasGraph
from cims.correlate.merge import correlate
from cims.correlate.packages import same_version
from cims.correlate.severity import Policy
from cims.model import Finding, Severity, is_cve
from cims.scanners.registry import parse_file

from tests.conftest import FIXTURES, shared


def _rows(*paths: object) -> list[tuple[int, Finding]]:
    rows: list[tuple[int, Finding]] = []
    for path in paths:
        report, _ = parse_file(path)  # type: ignore[arg-type]
        rows += [(len(rows) + i, f) for i, f in enumerate(report.findings)]
    return rows


def test_same_image_pair_cve_by_two_tools_is_stored_once_with_both() -> None:
    rows = _rows(
        shared("trivy/lichtiix-trivy-cicd-app-ubuntu2204.json.gz"),
        shared("grype/lichtiix-grype-0.104.2-cicd-app-ubuntu2204.json.gz"),
    )
    result = correlate(rows)
    keys = Counter((c.vulnerability, c.ecosystem, c.package, c.version) for c in result)
    assert max(keys.values()) == 1  # every key once
    http2 = [c for c in result if c.vulnerability == "CVE-2023-44487"]
    assert len(http2) == 1
    (c,) = http2
    assert c.tools == ["grype", "trivy"]
    assert c.package == "nghttp2"  # source package: both tools named binary libnghttp2-14
    assert c.packages == ["libnghttp2-14"]
    assert not c.single_tool
    assert c.by_tool["grype"].ids == c.by_tool["trivy"].ids == ["CVE-2023-44487"]
    # every raw finding lands in exactly one correlated finding
    members = [m for c in result for m in c.members]
    assert sorted(members) == [rid for rid, _ in rows]


def test_single_tool_findings_are_kept_and_marked() -> None:
    rows = _rows(
        shared("trivy/lichtiix-trivy-cicd-app-ubuntu2204.json.gz"),
        shared("grype/lichtiix-grype-0.104.2-cicd-app-ubuntu2204.json.gz"),
    )
    result = correlate(rows)
    single = [c for c in result if c.single_tool]
    assert single
    assert all(c.reasons[-1] == f"reported by {c.tools[0]} only" for c in single)


def test_two_different_cves_in_one_package_never_merge() -> None:
    rows = _rows(FIXTURES / "grype" / "dd-defectdojo-django-1.13.1-debian10.json")
    result = correlate(rows)
    for c in result:
        assert len({i for i in c.ids if is_cve(i)}) <= 1, c.ids
    per_pkg = Counter((c.package, c.version) for c in result)
    assert max(per_pkg.values()) > 1  # the fixture does hold several CVEs in one package


def test_umbrella_advisory_does_not_chain_two_cves() -> None:
    graph = AliasGraph()
    graph.add_edges(
        [
            ("CVE-2021-0001", "DSA-5001-1", "va"),
            ("CVE-2021-0002", "DSA-5001-1", "va"),
        ]
    )
    assert graph.group_id("CVE-2021-0001") != graph.group_id("CVE-2021-0002")
    assert graph.refused  # the second edge was refused and recorded


def test_ghsa_and_cve_merge_only_through_an_alias() -> None:
    # A real GHSA match of grype (with its related CVE) and the same package as another tool
    # reports it under the CVE id.
    report, _ = parse_file(FIXTURES / "grype" / "dd-vulnerable-image-debian10-allfields.json")
    ghsa = next(f for f in report.findings if f.vuln_id.startswith("GHSA") and f.aliases)
    cve = next(a for a in ghsa.aliases if is_cve(a))
    other = ghsa.model_copy(update={"tool": "trivy", "vuln_id": cve, "aliases": ()})
    merged = correlate([(1, ghsa), (2, other)])
    assert len(merged) == 1
    assert merged[0].vulnerability == cve
    assert merged[0].tools == ["grype", "trivy"]
    assert any("linked by" in r for r in merged[0].reasons)
    unlinked = correlate([(1, ghsa.model_copy(update={"aliases": ()})), (2, other)])
    assert len(unlinked) == 2


def test_binary_packages_meet_their_source_package() -> None:
    # twistcli names glibc with its binaries; a Trivy-style row for libc6 alone meets it.
    report, _ = parse_file(FIXTURES / "twistlock" / "dd-twistcli-debian9-many.json")
    glibc = next(f for f in report.findings if f.vuln_id == "CVE-2018-6485")
    trivy_row = glibc.model_copy(
        update={
            "tool": "trivy",
            "package_name": "libc-bin",
            "source_name": None,
            "binary_names": (),
        }
    )
    (c,) = correlate([(1, glibc), (2, trivy_row)])
    assert c.package == "glibc"
    assert c.tools == ["trivy", "twistlock"]
    assert any("source package glibc" in r for r in c.reasons)


def test_versions_compare_with_ecosystem_rules() -> None:
    assert same_version("deb", "2.66-4", "0:2.66-4")
    assert same_version("deb", "1:2.66-4", "2.66-4")  # a tool that omits the epoch
    assert same_version("deb", "2.66-4", "2.66-5") is None
    assert same_version("pypi", "1.0", "1.0.0")
    assert same_version("golang", "v1.21.3", "1.21.3")
    assert same_version("apk", "1.1.1c-r0", "1.1.1c-r1") is None


def test_severity_policies_name_their_source() -> None:
    path = FIXTURES / "aqua" / "dd-aqua-scanner-debian10-aqua-severity.json"
    report, _ = parse_file(path)
    apt = next(f for f in report.findings if f.vuln_id == "CVE-2011-3374")
    rows = [(1, apt)]
    vendor = correlate(rows, policy=Policy.VENDOR)[0]
    assert (vendor.severity, vendor.severity_source) == (Severity.NEGLIGIBLE, "debian via aqua")
    highest = correlate(rows, policy=Policy.HIGHEST)[0]
    assert (highest.severity, highest.severity_source) == (Severity.CRITICAL, "aqua")


def test_va_default_severity_yields_to_a_real_rating() -> None:
    va_report, _ = parse_file(FIXTURES / "va" / "ibm-sdk-test-image-report.json")
    (va,) = va_report.findings
    tw_report, _ = parse_file(FIXTURES / "twistlock" / "dd-twistcli-bookworm-no-cvss.json")
    tw = tw_report.findings[0]
    va_same = va.model_copy(
        update={
            "vuln_id": tw.vuln_id,
            "package_name": tw.package_name,
            "aliases": (),
            "installed_version": tw.installed_version,
        }
    )
    (c,) = correlate([(1, va_same), (2, tw)], policy=Policy.HIGHEST)
    assert c.tools == ["twistlock", "va"]
    assert c.severity is tw.severity  # VA's HIGH default does not win over a real LOW
