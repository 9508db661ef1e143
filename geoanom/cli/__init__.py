"""The ``geoanom`` command line: one click group, one subcommand per task.

Each area registers its commands from its own module (``geoanom.cli.<area>``, a list
``commands``); this module only builds the group and turns errors into exit code 2.
"""

from __future__ import annotations

import logging
import sys

import click

from geoanom._version import __version__
from geoanom.errors import GeoanomError


class _Group(click.Group):
    """A group that turns any GeoanomError into one paragraph on stderr and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GeoanomError as exc:
            click.echo(f"geoanom: error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="geoanom")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
def main(verbose: int, quiet: bool) -> None:
    """Geomagnetic anomaly detection with negative learning, honest significance tests,
    and DLEP magnitude-class prediction."""
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[
        min(verbose, 2)]
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s: %(message)s")


def _register() -> None:
    from geoanom.cli import data, detector, dlep, significance, synth

    for module in (data, synth, detector, significance, dlep):
        for cmd in module.commands:
            main.add_command(cmd)


_register()
