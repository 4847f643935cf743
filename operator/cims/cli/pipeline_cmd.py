"""``cims pipeline``: scan the image artifacts of a pipeline run when multiscan is on."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cims.cli.common import SEVERITY_CHOICE, db_option
from cims.cli.scan_cmd import gate
from cims.correlate.severity import Policy
from cims.errors import GateError
from cims.oci import pinned
from cims.pipeline import plan, report_name
from cims.report import json_report
from cims.report.model import build
from cims.runtime.scan import DEFAULT_TIMEOUT_S, scan_image
from cims.runtime.store import store_outcomes
from cims.store.db import Store


@click.command("pipeline")
@click.option(
    "--properties",
    "props_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON, YAML or key=value file with multiscan and multiscan-tools "
    "(default: env MULTISCAN, MULTISCAN_TOOLS).",
)
@click.option(
    "--artifacts",
    "artifacts_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON or YAML list of {type, name, digest} (default: env CIMS_ARTIFACTS).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("multiscan"),
    show_default=True,
    help="Folder for per-image reports and summary.json.",
)
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=DEFAULT_TIMEOUT_S)
@click.option("--fail-on", type=SEVERITY_CHOICE, help="Exit 5 when any image has such a finding.")
@db_option
def pipeline_command(
    *,
    props_file: Path | None,
    artifacts_file: Path | None,
    out_dir: Path,
    timeout_s: float,
    fail_on: str | None,
    db_path: Path,
) -> None:
    """Multi-scan every image artifact of a pipeline run into one DB; write reports."""
    todo = plan(props_file, artifacts_file)
    if not todo.enabled:
        click.echo(
            "multiscan is disabled (property 'multiscan' is empty or absent); nothing scanned"
        )
        return
    for note in todo.skipped:
        click.echo(note)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = []
    gate_failures = []
    for artifact in todo.images:
        image = pinned(artifact.image, artifact.digest)
        outcomes = scan_image(image, todo.tools, timeout_s=timeout_s)
        with Store(db_path) as store:
            row = store_outcomes(store, image, outcomes, Policy.VENDOR)
            report = build(store, row)
        path = out_dir / report_name(image)
        path.write_text(json_report.render(report))
        tools = {o.run.tool: o.run.status for o in outcomes}
        counts = {s.value: n for s, n in report.summary.by_severity.items() if n}
        summary.append({"image": str(image), "report": path.name, "tools": tools, "counts": counts})
        click.echo(f"{image}: {report.summary.findings} findings {counts or ''} tools {tools}")
        try:
            gate(report.findings, fail_on)
        except GateError as err:
            gate_failures.append(f"{image}: {err}")
    (out_dir / "summary.json").write_text(json.dumps({"images": summary}, indent=2) + "\n")
    click.echo(f"{len(summary)} images scanned with {', '.join(todo.tools)}; reports in {out_dir}")
    if gate_failures:
        raise GateError(f"{len(gate_failures)} images fail --fail-on; first: {gate_failures[0]}")
