"""``cims scan``: run the selected scanners against one image, store, report, gate."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import click

from cims.cli.common import SEVERITY_CHOICE, console, db_option, policy_option
from cims.correlate.merge import Correlated
from cims.correlate.severity import Policy
from cims.errors import GateError
from cims.model import ImageRef, Severity, check_digest
from cims.oci import pinned
from cims.report import json_report, table
from cims.report.model import build
from cims.runtime.container import run_cims
from cims.runtime.sbom import make_sbom
from cims.runtime.scan import DEFAULT_TIMEOUT_S, DEFAULT_TOOLS, parse_tools, scan_image
from cims.runtime.store import store_outcomes
from cims.store.db import Store


@click.command("scan")
@click.argument("image_text", metavar="IMAGE")
@click.option("--digest", help="sha256:<64 hex> the image must have (checked in the registry).")
@click.option(
    "--tools",
    default=",".join(DEFAULT_TOOLS),
    show_default=True,
    help="Comma-separated: twistlock, aqua, va, trivy, grype.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=1),
    default=DEFAULT_TIMEOUT_S,
    show_default=True,
    help="Seconds each tool may take.",
)
@click.option(
    "--sbom",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A syft JSON SBOM that trivy and grype read instead of pulling the image.",
)
@click.option(
    "--sbom-first",
    is_flag=True,
    help="Read the image once with syft; trivy and grype scan its SBOM.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option(
    "--fail-on",
    type=SEVERITY_CHOICE,
    help="Exit 5 when a correlated finding is at or above this severity.",
)
@click.option(
    "--container",
    "in_container",
    is_flag=True,
    help="Run this scan inside the CIMS image (Docker), mounting the DB folder.",
)
@click.option(
    "--container-image",
    default=lambda: os.environ.get("CIMS_IMAGE", "cims:dev"),
    show_default="$CIMS_IMAGE or cims:dev",
    help="The CIMS image for --container.",
)
@click.option(
    "--atomic-db",
    is_flag=True,
    help="Write a new DB at --db in one rename when the scan is complete (scan Jobs).",
)
@db_option
@policy_option
def scan_command(
    *,
    image_text: str,
    digest: str | None,
    tools: str,
    timeout_s: float,
    sbom: Path | None,
    sbom_first: bool,
    fmt: str,
    fail_on: str | None,
    in_container: bool,
    container_image: str,
    atomic_db: bool,
    db_path: Path,
    policy: str | None,
) -> None:
    """Scan IMAGE by digest with several tools in parallel and print the correlated report."""
    chosen = parse_tools(tools)
    if in_container:
        args = ["scan", image_text, "--tools", ",".join(chosen), "--timeout", str(timeout_s)]
        args += ["--format", fmt]
        for flag, value in (("--digest", digest), ("--fail-on", fail_on), ("--policy", policy)):
            if value:
                args += [flag, value]
        extra = {}
        if sbom is not None:
            extra[str(sbom.resolve().parent)] = {"bind": "/sbom", "mode": "ro"}
            args += ["--sbom", f"/sbom/{sbom.name}"]
        if sbom_first:
            args.append("--sbom-first")
        code = run_cims(container_image, args, db_path, extra_mounts=extra)
        if code:
            raise click.exceptions.Exit(code)
        return
    image = pinned(
        ImageRef.parse(image_text), check_digest(digest, what="--digest") if digest else None
    )
    with tempfile.TemporaryDirectory(prefix="cims-sbom-") as tmp:
        if sbom_first and sbom is None:
            sbom = make_sbom(image, Path(tmp) / "sbom.json", os.environ, timeout_s)
        outcomes = scan_image(image, chosen, timeout_s=timeout_s, sbom=sbom)
    target = db_path.with_name(db_path.name + ".partial") if atomic_db else db_path
    if atomic_db:
        target.unlink(missing_ok=True)  # a crashed earlier attempt's leftovers
    with Store(target) as store:
        row = store_outcomes(store, image, outcomes, Policy(policy) if policy else Policy.VENDOR)
        report = build(store, row)
        if atomic_db:
            store.publish(db_path)
    if fmt == "json":
        click.echo(json_report.render(report), nl=False)
    else:
        table.render(report, console())
    gate(report.findings, fail_on)


def gate(findings: Sequence[Correlated], fail_on: str | None) -> None:
    """Exit 5 (GateError) when a finding is at or above ``fail_on``."""
    if not fail_on:
        return
    threshold = Severity(fail_on.upper())
    hits = [f for f in findings if f.severity.rank >= threshold.rank]
    if hits:
        raise GateError(f"{len(hits)} findings at or above {threshold.value} (--fail-on)")
