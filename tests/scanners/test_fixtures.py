"""Every report file in the fixture folders: detected as its tool's, parsed, fields checked.

The expected values are read from each file by a small independent walk of its JSON, so a
parser that drops, invents or mislabels findings fails here.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cims.errors import InputError
from cims.model import normalize_vuln_id
from cims.scanners.registry import parse_file
from packageurl import PackageURL

from tests.conftest import fixture_files, load

FILES = fixture_files()


def _trivy(doc: Any) -> list[tuple[str, str]]:
    if doc is None:
        return []
    if isinstance(doc, list):
        return [
            (v["VulnerabilityID"], v.get("InstalledVersion", ""))
            for r in doc
            for v in r.get("Vulnerabilities") or []
            if v.get("VulnerabilityID") and v.get("PkgName")
        ]
    if "runs" in doc:  # SARIF
        out = []
        for run in doc["runs"]:
            for res in run["results"]:
                ver = re.search(r"Installed Version: (.*)", res["message"]["text"])
                out.append((res["ruleId"], ver.group(1) if ver else ""))
        return out
    if doc.get("bomFormat") == "CycloneDX":
        return [
            (v["id"], PackageURL.from_string(a["ref"][a["ref"].index("pkg:") :]).version or "")
            for v in doc["vulnerabilities"]
            for a in v["affects"]
        ]
    results = doc.get("Results") or []
    return [
        (v["VulnerabilityID"], v.get("InstalledVersion", ""))
        for r in results
        for v in r.get("Vulnerabilities") or []
        if v.get("VulnerabilityID") and v.get("PkgName")
    ]


def _grype(doc: Any) -> list[tuple[str, str]]:
    return [(m["vulnerability"]["id"], m["artifact"]["version"]) for m in doc["matches"]]


def _twistlock(doc: Any) -> list[tuple[str, str]]:
    if isinstance(doc, dict) and "results" in doc:  # twistcli
        return [
            (v["id"], v["packageVersion"])
            for r in doc["results"]
            for v in r.get("vulnerabilities", [])
        ]
    images = doc if isinstance(doc, list) else [doc]  # the console API: image objects
    return [
        (v["cve"], v["packageVersion"])
        for image in images
        for v in image.get("entityInfo", image).get("vulnerabilities") or []
    ]


def _aqua(doc: Any) -> list[tuple[str, str]]:
    if "resources" in doc:
        return [
            (v["name"], r["resource"].get("version", ""))
            for r in doc["resources"]
            if r["resource"].get("name") or r["resource"].get("path")
            for v in r.get("vulnerabilities", [])
        ]
    if "result" in doc:
        return [(v["name"], v["resource"]["version"]) for v in doc["result"]]
    return [(v["name"], "") for v in doc.get("cves", [])]


def _clair(doc: Any) -> list[tuple[str, str]]:
    return [(v["vulnerability"], v["featureversion"]) for v in doc["vulnerabilities"]]


def _anchore(doc: Any) -> list[tuple[str, str]]:
    vulns = doc if isinstance(doc, list) else doc["vulnerabilities"]
    return [(v["vuln"], v.get("package_version") or v.get("packageVersion")) for v in vulns]


def _snyk(doc: Any) -> list[tuple[str, str]]:
    out = []
    for project in doc if isinstance(doc, list) else [doc]:
        for p in [project, *project.get("applications", [])]:
            out += [(v["id"], v["version"]) for v in p["vulnerabilities"]]
    return out


def _va(doc: Any) -> list[tuple[str, str]]:
    return [
        (v["cve_id"], p["installed_version"])
        for v in doc["vulnerabilities"]
        for n in v["security_notices"]
        for p in n["vulnerable_packages"]
    ]


EXPECTED = {
    "trivy": _trivy,
    "grype": _grype,
    "twistlock": _twistlock,
    "aqua": _aqua,
    "clair": _clair,
    "anchore": _anchore,
    "snyk": _snyk,
    "va": _va,
}


def test_every_tool_folder_has_a_walk() -> None:
    folders = {p.parent.name for p in FILES}
    assert folders <= set(EXPECTED), f"fixture folders without a checker: {folders - set(EXPECTED)}"
    assert {"trivy", "grype", "twistlock", "aqua", "va"} <= folders


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_fixture_parses_with_the_right_tool_and_fields(path: Path) -> None:
    tool = path.parent.name
    doc = load(path)
    if doc in (None, [], {}):
        # Only files with nothing in them cannot be told apart; --tool reads them.
        with pytest.raises(InputError, match="pass --tool"):
            parse_file(path)
        report, sha = parse_file(path, tool)
    else:
        report, sha = parse_file(path)
    assert report.tool == tool
    assert len(sha) == 64
    got = Counter((f.vuln_id, f.installed_version) for f in report.findings)
    want = Counter((normalize_vuln_id(i), v or "") for i, v in EXPECTED[tool](doc))
    assert got == want
    assert len(report.raw_records) == len(report.findings)
    for f in report.findings:
        assert f.tool == tool
        assert f.package_name
        assert f.raw_index < len(report.raw_records)


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_forcing_another_tool_is_refused(path: Path) -> None:
    tool = path.parent.name
    other = "grype" if tool != "grype" else "trivy"
    if load(path) in (None, [], {}):
        pytest.skip("an empty report is every tool's")
    with pytest.raises(InputError, match=f"not {other}"):
        parse_file(path, other)
