"""What every command shares: the --db option, error reporting, the console."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from cims.correlate.severity import Policy
from cims.errors import InputError
from cims.model import Severity
from cims.store.db import Store

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_DB = "cims.db"


def default_db() -> Path:
    return Path(os.environ.get("CIMS_DB", DEFAULT_DB))


def db_option(func: F) -> F:
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=default_db,
        show_default="$CIMS_DB or ./cims.db",
        help="SQLite database file.",
    )(func)


def policy_option(func: F) -> F:
    return click.option(
        "--policy",
        type=click.Choice([p.value for p in Policy]),
        default=None,
        help="Severity policy (default: vendor, the distro's rating when a tool gives one).",
    )(func)


SEVERITY_CHOICE = click.Choice([s.value.lower() for s in Severity], case_sensitive=False)


def console() -> Console:
    return Console(soft_wrap=False, width=None if os.isatty(1) else 160)


def open_existing(db_path: Path) -> Store:
    """The store at ``db_path``; a missing file is an input error, not a new empty database."""
    if not db_path.exists():
        raise InputError(f"no database at {str(db_path)!r}; run cims import first or pass --db")
    return Store(db_path)
