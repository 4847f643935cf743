"""``cims import``: store scanners' reports of one image and correlate them."""

from __future__ import annotations

from pathlib import Path

import click

from cims.cli.common import db_option, policy_option
from cims.correlate.severity import Policy
from cims.model import ImageRef
from cims.scanners.registry import TOOLS, parse_file
from cims.store.db import Store


@click.command("import")
@click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--image", "image_text", required=True, help="NAME[:TAG][@sha256:DIGEST]")
@click.option("--tool", type=click.Choice(TOOLS), help="Read every report as this tool's.")
@db_option
@policy_option
def import_command(
    *,
    reports: tuple[Path, ...],
    image_text: str,
    tool: str | None,
    db_path: Path,
    policy: str | None,
) -> None:
    """Import REPORTS of one image (one scan, all or nothing) and correlate its findings."""
    image = ImageRef.parse(image_text)
    parsed = []
    for path in reports:
        report, sha = parse_file(path, tool)
        parsed.append((report, sha, path.name))
    with Store(db_path) as store:
        row, outcomes = store.import_reports(
            image, parsed, policy=Policy(policy) if policy else Policy.VENDOR
        )
        count = len(store.correlated(row.id))
    for out in outcomes:
        if out.tool_run_id is None:
            click.echo(f"{out.source}: already imported (tool run {out.duplicate_of}), skipped")
            continue
        click.echo(
            f"{out.source}: {out.tool}, {out.findings} findings (tool run {out.tool_run_id})"
        )
        for why in out.skipped:
            click.echo(f"  not imported: {why}")
    click.echo(f"{row.name}@{row.digest}: {count} correlated findings in {db_path}")
