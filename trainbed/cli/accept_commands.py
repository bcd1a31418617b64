"""`trainbed accept INVENTORY`: the acceptance checks, the probe suites and the report, in one
command, for the hand-over.

Exit status: 0 only when every check and every probe suite passed (storage "not measured on
NFS" is said, and fails nothing); 1 when any failed; 2 when the run could not be made (bad
inventory, no SSH to the submit host); 128 + the signal when interrupted.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

import click

from trainbed.cli.common import load_or_exit
from trainbed.errors import TrainbedError
from trainbed.inventory.model import LEVELS
from trainbed.sizing.training import TABLE3


@click.command("accept")
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.option(
    "--level",
    type=click.Choice(LEVELS),
    default=LEVELS[0],
    show_default=True,
    help="Hardware health depth of the checks (as `trainbed check --level`).",
)
@click.option(
    "--model",
    type=click.Choice(sorted(TABLE3)),
    default="llama2-7b",
    show_default=True,
    help="The training suite's model (the white paper's Table 3 parallelism).",
)
@click.option(
    "--nodes",
    "train_nodes",
    type=click.IntRange(1),
    help="Compute nodes for the training job (default: all of the inventory's).",
)
@click.option(
    "-n", "workers", default="4", show_default=True, metavar="WORKERS", help="Check workers."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=str),
    help="Report directory (default out/accept-<timestamp>).",
)
def accept(
    inventory: str,
    level: str,
    model: str,
    train_nodes: int | None,
    workers: str,
    out_dir: str | None,
) -> None:
    """Accept INVENTORY's cluster: checks, probe suites (nccl, ib, storage, training), report.

    Writes DIR/checks.junit.xml, DIR/probe/ (results.json, report.md, junit.xml, heatmap) and
    DIR/acceptance.json + acceptance.md and the one HTML report DIR/report.html. Exit 0 only
    when everything passed.
    """
    from pathlib import Path

    from trainbed.accept import ACCEPT_SUITES, acceptance, inventory_summary, write_acceptance
    from trainbed.checks.run import run_checks
    from trainbed.html_report import write_html
    from trainbed.probes.interrupt import Interrupted, SignalGuard
    from trainbed.probes.run import ProbeRunError, connect, run_suite
    from trainbed.probes.training import training_job
    from trainbed.remote import RemoteError

    inv = load_or_exit(inventory)
    nodes = train_nodes or len(inv.compute)
    try:
        training_job(inv, model, nodes)
    except TrainbedError as err:
        raise click.BadParameter(str(err), param_hint="--model/--nodes") from None
    started = datetime.now(UTC)
    out = out_dir or f"out/accept-{started:%Y%m%dT%H%M%SZ}"
    clock = time.monotonic()

    def progress(message: str) -> None:
        click.echo(f"[{time.monotonic() - clock:7.1f}s] {message}")

    progress(f"1/3 acceptance checks (level {level}) on {len(inv.nodes)} node(s)")
    checks = run_checks(
        inv, inventory, junit=f"{out}/checks.junit.xml", workers=workers, level=level
    )
    failed = sum(s.failed for s in checks.summaries)
    not_run = sum(s.not_run for s in checks.summaries)
    progress(f"checks: {failed} failed, {not_run} could not run (pytest exit {checks.returncode})")

    progress(f"2/3 probe suites {', '.join(ACCEPT_SUITES)}")
    probe = None
    with SignalGuard() as guard:
        try:
            remote = connect(inv)
        except RemoteError as err:
            click.echo(f"trainbed accept: {err}", err=True)
            sys.exit(2)
        except Interrupted as signal:
            click.echo(f"trainbed accept: interrupted by {signal.name}", err=True)
            sys.exit(signal.exit_status)
        try:
            outcome = run_suite(
                inv,
                remote,
                f"{out}/probe",
                suites=ACCEPT_SUITES,
                training=(model, nodes),
                progress=progress,
                guard=guard,
            )
            probe = outcome.results
        except (RemoteError, ProbeRunError) as err:
            click.echo(f"trainbed accept: probe: {err}", err=True)
        except Interrupted as signal:
            click.echo(f"trainbed accept: interrupted by {signal.name}", err=True)
            sys.exit(signal.exit_status)
        finally:
            remote.close()

    progress("3/3 report")
    doc = acceptance(
        inventory_path=inventory,
        cluster=inv.cluster.name,
        summaries=checks.summaries,
        checks_returncode=checks.returncode,
        probe=probe,
        started=started.isoformat(timespec="seconds"),
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
        summary=inventory_summary(inv),
    )
    paths = write_acceptance(doc, out)
    paths["report.html"] = write_html(out, probe, doc, Path(out) / "probe")
    for name, path in paths.items():
        click.echo(f"{name}: {path}")
    for line in doc["reasons"]:
        click.echo(f"  {line}")
    for line in doc["caveats"]:
        click.echo(f"  not measured: {line}")
    verdict = "ACCEPTED" if doc["accepted"] else "NOT ACCEPTED"
    click.echo(f"{inv.cluster.name}: {verdict}; reports in {out}")
    sys.exit(0 if doc["accepted"] else 1)


COMMANDS = [accept]
