"""`trainbed check INVENTORY`: the acceptance checks, a per-node summary, JUnit XML."""

from __future__ import annotations

import sys

import click

from trainbed.checks.expected import select_hosts
from trainbed.checks.junit import format_table, not_run_lines, warning_lines
from trainbed.checks.run import run_checks
from trainbed.cli.common import load_or_exit
from trainbed.inventory.model import LEVELS


@click.command("check")
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.option(
    "--limit", metavar="PATTERN", help="Hosts: group names or hostname globs, comma-separated."
)
@click.option(
    "--level",
    type=click.Choice(LEVELS),
    default=LEVELS[0],
    show_default=True,
    help="Hardware health depth: quick (dcgmi diag -r 1), standard (-r 2), burn-in (-r 3, nvbandwidth).",
)
@click.option("--junit", "junit", metavar="FILE", help="Write the JUnit XML here.")
@click.option(
    "-n",
    "workers",
    default="auto",
    show_default=True,
    metavar="WORKERS",
    help="pytest-xdist workers (a number, 'auto', or 0 for none).",
)
def check(inventory: str, limit: str | None, level: str, junit: str | None, workers: str) -> None:
    """Acceptance checks of every node against INVENTORY (a thin wrapper over pytest on the installed suite).

    Exits 1 when any check fails, 2 when none failed but some could not run (no verdict is no pass).
    """
    inv = load_or_exit(inventory)
    try:
        select_hosts(inv, limit)
    except ValueError as err:
        click.echo(f"trainbed check: {err}", err=True)
        sys.exit(2)
    result = run_checks(inv, inventory, junit=junit, limit=limit, workers=workers, level=level)
    click.echo("")
    click.echo(format_table(result.summaries))
    for line in not_run_lines(result.summaries):
        click.echo(line)
    for line in warning_lines(result.summaries):
        click.echo(f"warning: {line}")
    if junit:
        click.echo(f"\nJUnit XML: {junit}")
    failed = sum(s.failed for s in result.summaries)
    if result.failed:
        nodes = [s.node for s in result.summaries if s.failed]
        what = f"{failed} check(s) failed on {', '.join(nodes)}" if nodes else "the run failed"
        click.echo(f"FAILED: {what} (pytest exit {result.returncode})", err=True)
        sys.exit(1)
    not_run = sum(s.not_run for s in result.summaries)
    click.echo(
        f"passed: {sum(s.passed for s in result.summaries)} checks on {len(result.summaries)} node(s)"
        + (f"; {not_run} could not run (no verdict)" if not_run else "")
    )
    if not_run:
        click.echo(f"NOT PASSED: {not_run} check(s) could not run", err=True)
        sys.exit(2)


COMMANDS = [check]
