"""Entry point: ``cims`` with its commands; domain errors become one line and an exit code."""

from __future__ import annotations

import sys

import click

from cims import __version__
from cims.cli.db_cmd import db_group
from cims.cli.demo_cmd import demo_command
from cims.cli.import_cmd import import_command
from cims.cli.pipeline_cmd import pipeline_command
from cims.cli.report_cmd import report_command
from cims.cli.scan_cmd import scan_command
from cims.errors import CimsError


@click.group()
@click.version_option(__version__, prog_name="cims")
def cli() -> None:
    """CIMS, the Container Image Multi-Scanner: one correlated picture of several scanners."""


cli.add_command(import_command)
cli.add_command(report_command)
cli.add_command(db_group)
cli.add_command(demo_command)
cli.add_command(scan_command)
cli.add_command(pipeline_command)


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="cims", standalone_mode=False)
    except CimsError as err:
        click.echo(f"cims: error: {err}", err=True)
        return err.exit_code
    except click.exceptions.Abort:
        click.echo("cims: aborted", err=True)
        return 130
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except click.exceptions.Exit as err:
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
