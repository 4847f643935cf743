"""``cims demo``: correlate real scanner reports of one image shipped with CIMS; no scanner needed.

Sets of reports of one image: ``alpine310`` ships inside the package (Trivy's own integration
reports, Apache-2.0); the others are read from the shared fixture folder when it is there.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import click

from cims.cli.common import console, policy_option
from cims.correlate.severity import Policy
from cims.errors import InputError
from cims.model import ImageRef
from cims.report import json_report, table
from cims.report.model import Report, build
from cims.scanners.registry import parse_file
from cims.store.db import Store


@dataclass(frozen=True)
class FixtureSet:
    name: str
    image: str
    files: tuple[str, ...]  # below the set's folder
    shipped: bool  # inside the package, else in the shared fixture folder
    about: str


SETS = (
    FixtureSet(
        "alpine310",
        # Trivy's fixture image has no registry digest; it is keyed by its image ID.
        "ghcr.io/aquasecurity/trivy-test-images:alpine-310"
        "@sha256:961769676411f082461f9ef46626dd7a2d1e2b2a38e6a44364bcbecf51e66dd4",
        (
            "golden-alpine310-2019-legacy-list.json",
            "golden-alpine310-2021-legacy-list.json",
            "golden-alpine310-2022.json",
            "golden-alpine310-2026.json",
            "golden-alpine310.sarif.json",
        ),
        True,
        "alpine:3.10 scanned by Trivy releases from 2019 to 2026, JSON and SARIF",
    ),
    FixtureSet(
        "lichtiix",
        "cicd-app:local",  # the digest comes from grype's report
        (
            "trivy/lichtiix-trivy-cicd-app-ubuntu2204.json.gz",
            "grype/lichtiix-grype-0.104.2-cicd-app-ubuntu2204.json.gz",
        ),
        False,
        "an Ubuntu 22.04 Java app scanned by Trivy and Grype 45 s apart",
    ),
    FixtureSet(
        "twistlock-debian9",
        "debian9-app@sha256:f4c0503d26c8da0a04e6190c9d4f2a30f38958852b9fb80bcd2b819a7571e7f7",
        (
            "twistlock/dd-twistcli-debian9-many.json",
            "twistlock/dd-twistcli-debian9-with-packages.json",
        ),
        False,
        "a Debian 9 image scanned twice by twistcli (keyed by its image ID)",
    ),
)


def shared_fixtures() -> Path:
    """The shared fixture folder: $CIMS_SHARED_FIXTURES, else ../shared/fixtures of the repo."""
    env = os.environ.get("CIMS_SHARED_FIXTURES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"


def set_files(fixture_set: FixtureSet) -> list[Path]:
    if fixture_set.shipped:
        base = resources.files("cims") / "data" / "demo" / fixture_set.name
        return [Path(str(base / name)) for name in fixture_set.files]
    root = shared_fixtures()
    paths = [root / name for name in fixture_set.files]
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise InputError(
            f"set {fixture_set.name!r} reads {missing[0]}, which is missing; "
            "set CIMS_SHARED_FIXTURES to the shared fixture folder"
        )
    return paths


def run_set(fixture_set: FixtureSet, db_path: Path, policy: Policy = Policy.VENDOR) -> Report:
    """Import one set into a fresh database at ``db_path`` and build its report."""
    if db_path.exists():
        db_path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    parsed = []
    for path in set_files(fixture_set):
        report, sha = parse_file(path)
        parsed.append((report, sha, path.name))
    with Store(db_path) as store:
        row, _ = store.import_reports(ImageRef.parse(fixture_set.image), parsed, policy=policy)
        return build(store, row)


def summary_table(reports: list[tuple[FixtureSet, Report]]) -> str:
    """The README's markdown table: per-tool counts, correlated, found by two or more tools."""
    lines = [
        "| set | image | reports (tool: raw findings) | correlated | found by 2+ tools |",
        "|---|---|---|---|---|",
    ]
    for fixture_set, rep in reports:
        runs = "; ".join(
            f"{r.tool} {r.tool_version or '?'} {r.report_format}: {r.findings}"
            for r in rep.tool_runs
        )
        lines.append(
            f"| {fixture_set.name} | {fixture_set.about} | {runs} | {rep.summary.findings} "
            f"| {rep.summary.found_by_several_tools} |"
        )
    return "\n".join(lines)


@click.command("demo")
@click.option(
    "--set",
    "set_name",
    type=click.Choice([s.name for s in SETS]),
    default="alpine310",
    show_default=True,
    help="Which set of real reports of one image to correlate.",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(".cims/demo.db"),
    show_default=True,
    help="Database to create anew for the demo.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option(
    "--summary-table",
    "summary_flag",
    is_flag=True,
    help="Print the README's markdown table over every set that can be read.",
)
@policy_option
def demo_command(
    *, set_name: str, db_path: Path, fmt: str, summary_flag: bool, policy: str | None
) -> None:
    """Import real reports of one image into a new database and print the correlated report."""
    chosen = Policy(policy) if policy else Policy.VENDOR
    if summary_flag:
        done = []
        with tempfile.TemporaryDirectory() as tmp:
            for fixture_set in SETS:
                try:
                    done.append((fixture_set, run_set(fixture_set, Path(tmp) / "s.db", chosen)))
                except InputError as err:
                    click.echo(f"skipped {fixture_set.name}: {err}", err=True)
        click.echo(summary_table(done))
        return
    fixture_set = next(s for s in SETS if s.name == set_name)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    rep = run_set(fixture_set, db_path, chosen)
    if fmt == "json":
        click.echo(json_report.render(rep), nl=False)
        return
    table.render(rep, console())
    click.echo(f"database: {db_path} (try: cims report --db {db_path} --format json)")
