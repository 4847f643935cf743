"""``cims report``: one image's correlated findings as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cims.cli.common import SEVERITY_CHOICE, console, db_option, open_existing, policy_option
from cims.correlate.severity import Policy
from cims.model import ImageRef, Severity, check_digest
from cims.report import json_report, table
from cims.report.model import build, json_schema


@click.command("report")
@click.option("--image", "image_text", help="NAME[:TAG][@sha256:DIGEST] (newest scan of a name)")
@click.option("--digest", help="sha256:<64 hex> of the image")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--min-severity", type=SEVERITY_CHOICE, help="Hide findings below this severity.")
@click.option("--min-tools", type=click.IntRange(min=1), default=1, help="Found by at least N.")
@click.option("--schema", is_flag=True, help="Print the JSON Schema of --format json and exit.")
@db_option
@policy_option
def report_command(
    *,
    image_text: str | None,
    digest: str | None,
    fmt: str,
    min_severity: str | None,
    min_tools: int,
    schema: bool,
    db_path: Path,
    policy: str | None,
) -> None:
    """Print the correlated findings of one image."""
    if schema:
        click.echo(json.dumps(json_schema(), indent=2))
        return
    ref = ImageRef.parse(image_text) if image_text else None
    if digest:
        digest = check_digest(digest, what="--digest")
    with open_existing(db_path) as store:
        row = store.find_image(ref, digest)
        report = build(
            store,
            row,
            policy=Policy(policy) if policy else None,
            min_severity=Severity(min_severity.upper()) if min_severity else None,
            min_tools=min_tools,
        )
    if fmt == "json":
        click.echo(json_report.render(report), nl=False)
    else:
        table.render(report, console())
