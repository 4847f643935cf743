"""``cims db``: look after the database."""

from __future__ import annotations

from pathlib import Path

import click

from cims.cli.common import db_option, open_existing
from cims.errors import StoreError
from cims.store.schema import SCHEMA_VERSION


@click.group("db")
def db_group() -> None:
    """Check and inspect the SQLite database."""


@db_group.command("check")
@db_option
def check_command(db_path: Path) -> None:
    """Check integrity, foreign keys and schema version; exit non-zero on any problem."""
    with open_existing(db_path) as store:
        problems = store.check()
        images = len(store.images())
    if problems:
        raise StoreError(f"{db_path}: {len(problems)} problems, first: {problems[0]}")
    click.echo(f"{db_path}: ok (schema v{SCHEMA_VERSION}, {images} images)")


@db_group.command("images")
@db_option
def images_command(db_path: Path) -> None:
    """List the images the database holds."""
    with open_existing(db_path) as store:
        for row in store.images():
            tag = f":{row.tag}" if row.tag else ""
            click.echo(f"{row.digest}  {row.name}{tag}  last seen {row.last_seen}")
