"""`trainbed probe plan` and `trainbed report`: the probe plan, and reports from saved results.

Seam for the run: ``trainbed probe INVENTORY [--suite ...] [--out DIR]`` is the ``probe`` group's
default command. Register it as ``probe.add_command(run_command, name=RUN_COMMAND)``; ``ProbeGroup``
then routes any first argument that is not a subcommand name to it. Until it is registered,
``trainbed probe INVENTORY`` fails with click's usual "No such command".
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime

import click

from trainbed.cli.common import load_or_exit
from trainbed.errors import TrainbedError
from trainbed.inventory.model import Inventory
from trainbed.probes.evaluate import schedule_for, summary_for
from trainbed.probes.report import write_reports
from trainbed.probes.results import ALL_SUITES, load_results
from trainbed.probes.schedule import iter_rounds
from trainbed.probes.training import training_job
from trainbed.sizing.training import TABLE3

#: Name under which the run command is registered in the ``probe`` group.
RUN_COMMAND = "run"


class ProbeGroup(click.Group):
    """A group whose first argument, when not a subcommand, goes to the ``run`` command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if (
            args
            and not args[0].startswith("-")
            and args[0] not in self.commands
            and RUN_COMMAND in self.commands
        ):
            args = [RUN_COMMAND, *args]
        return super().parse_args(ctx, args)


@click.group("probe", cls=ProbeGroup)
def probe() -> None:
    """Bandwidth probes (NCCL all_reduce, ib_write_bw) through Slurm."""


@probe.command("plan")
@click.argument("inventory", type=click.Path(dir_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option(
    "--pairs",
    is_flag=True,
    help="List every ib_write_bw pair of every round (N(N-1)/2 pairs; the full schedule).",
)
def plan(inventory: str, as_json: bool, pairs: bool) -> None:
    """Print the probe schedule for INVENTORY: ib_write_bw rounds and NCCL runs. No SSH.

    Without --pairs each round shows its first pairs and the JSON counts the rounds (round r's
    pairs follow from the node order by the circle method): the output grows with the rounds,
    not with the N(N-1)/2 pairs.
    """
    inv = load_or_exit(inventory)
    if as_json:
        doc = schedule_for(inv) if pairs else summary_for(inv)
        click.echo(json.dumps(doc, indent=2))
        return
    for line in _plan_lines(inv, pairs):
        click.echo(line)


#: Pairs shown per round without --pairs.
SHOWN_PAIRS = 4


def _plan_lines(inv: Inventory, all_pairs: bool) -> list[str]:
    nodes = [n.hostname for n in inv.compute]
    summary = summary_for(inv)
    ib = summary["ib_write_bw"]
    rails = ib["rails"]
    lines = [
        f"ib_write_bw: {ib['pairs']} pairs × {len(rails)} rails ({', '.join(rails)}) "
        f"in {ib['round_count']} rounds"
    ]
    limit = None if all_pairs else SHOWN_PAIRS
    for number, shown in enumerate(iter_rounds(nodes, limit), start=1):
        # Every round but an odd N's holds N // 2 pairs; an odd N's full rounds hold as many.
        hidden = ib["pairs_per_round"] - len(shown)
        more = f"  … {hidden} more" if hidden > 0 else ""
        text = "  ".join(f"{a}–{b}" for a, b in shown)
        lines.append(f"  round {number:>3}: {text}{more}")
    runs = summary["nccl"]
    lines.append(f"nccl all_reduce: {len(runs)} runs")
    width = max((len(run["name"]) for run in runs), default=0)
    for run in runs:
        env = " ".join(f"{k}={v}" for k, v in run.get("env", {}).items())
        listed = run["nodes"] if isinstance(run["nodes"], str) else ",".join(run["nodes"])
        lines.append(f"  {run['name']:<{width}}  {run['kind']:<6}  {listed}  {env}".rstrip())
    return lines


@click.command("report")
@click.argument("directory", type=click.Path(file_okay=False, path_type=str))
def report(directory: str) -> None:
    """Render the reports again from DIRECTORY: a probe run's results.json (report.md, junit.xml,
    heatmap PNG, report.html), or a `trainbed accept` directory's acceptance.json (its probe/
    reports, acceptance.md and the one HTML report, report.html).

    Exit 0 when the results passed (accepted), 1 when they failed, 2 when the document is
    missing or invalid.
    """
    from pathlib import Path

    from trainbed.accept import DOCUMENT, load_acceptance, write_acceptance
    from trainbed.html_report import write_html

    base = Path(directory)
    try:
        if (base / DOCUMENT).exists():
            doc = load_acceptance(base / DOCUMENT)
            paths = {}
            if doc["probe"] is not None:
                paths = write_reports(doc["probe"], base / "probe")
            paths |= write_acceptance(doc, base)
            paths["report.html"] = write_html(base, doc["probe"], doc, base / "probe")
            passed, count = bool(doc["accepted"]), len(doc["reasons"])
            verdict = "ACCEPTED" if passed else "NOT ACCEPTED"
            cluster, what = doc["cluster"], "reason(s)"
        else:
            results = load_results(base / "results.json")
            paths = write_reports(results, base)
            paths["report.html"] = write_html(base, results, None, base)
            passed, count = bool(results["passed"]), len(results["findings"])
            verdict = "PASSED" if passed else "FAILED"
            cluster, what = results["cluster"], "finding(s)"
    except TrainbedError as err:
        click.echo(f"trainbed report: {err}", err=True)
        sys.exit(2)
    for name, path in paths.items():
        if not name.endswith(".json"):
            click.echo(str(path))
    click.echo(f"{cluster}: {verdict}, {count} {what}")
    sys.exit(0 if passed else 1)


#: ``--suite`` words → the results' suite names.
SUITE_WORDS = {
    "nccl": "nccl",
    "ib": "ib_write_bw",
    "ib_write_bw": "ib_write_bw",
    "storage": "storage",
    "training": "training",
}


def _suites(value: str) -> tuple[str, ...]:
    words = [w.strip() for w in value.split(",") if w.strip()]
    unknown = [w for w in words if w not in SUITE_WORDS]
    if unknown or not words:
        raise click.BadParameter(
            f"{', '.join(unknown) or '(empty)'}: choose from nccl, ib, storage, training",
            param_hint="--suite",
        )
    chosen = {SUITE_WORDS[w] for w in words}
    return tuple(s for s in ALL_SUITES if s in chosen)


@click.command(RUN_COMMAND)
@click.argument("inventory", type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--suite",
    "suite",
    default="nccl,ib",
    show_default=True,
    help="Suites to run: nccl, ib, storage (checkpoint write/read at the checkpoint mount), training.",
)
@click.option(
    "--model",
    type=click.Choice(sorted(TABLE3)),
    default="llama2-7b",
    show_default=True,
    help="Training suite: the white paper's model (Table 3 parallelism).",
)
@click.option(
    "--nodes",
    "train_nodes",
    type=click.IntRange(1),
    help="Training suite: compute nodes for the job (default: all of the inventory's).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=str),
    help="Report directory (default out/probe-<timestamp>).",
)
def run_cmd(
    inventory: str, suite: str, model: str, train_nodes: int | None, out_dir: str | None
) -> None:
    """Run the probe suite on INVENTORY's cluster through Slurm and write the reports.

    Connects to the submit host over SSH (host key verified), submits one job per NCCL run and
    one per ib_write_bw round (and, with the training suite, the white paper's NeMo pre-training
    job), follows them, then judges and localises. The run ends within its bound (printed
    first). Exit 0 when the suite passed, 1 when it failed, 2 when it could not run; on SIGINT or
    SIGTERM the run's jobs are cancelled, partial results written (incomplete) and the exit
    status is 130 or 143.
    """
    from trainbed.probes.interrupt import Interrupted, SignalGuard
    from trainbed.probes.run import ProbeRunError, connect, run_suite
    from trainbed.remote import RemoteError

    suites = _suites(suite)
    inv = load_or_exit(inventory)
    training = None
    if "training" in suites:
        nodes = train_nodes or len(inv.compute)
        try:
            training_job(inv, model, nodes)
        except TrainbedError as err:
            raise click.BadParameter(str(err), param_hint="--model/--nodes") from None
        training = (model, nodes)
    out = out_dir or f"out/probe-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    start = time.monotonic()

    def progress(message: str) -> None:
        click.echo(f"[{time.monotonic() - start:7.1f}s] {message}")

    submit = inv.submit_host
    with SignalGuard() as guard:
        try:
            progress(f"connecting to {submit.hostname} ({submit.address}) as {inv.ssh.user}")
            remote = connect(inv)
        except RemoteError as err:
            click.echo(f"trainbed probe: {err}", err=True)
            sys.exit(2)
        except Interrupted as signal:  # before any job was submitted: nothing to cancel
            click.echo(f"trainbed probe: interrupted by {signal.name}", err=True)
            sys.exit(signal.exit_status)
        try:
            outcome = run_suite(
                inv,
                remote,
                out,
                suites=suites,
                training=training,
                progress=progress,
                guard=guard,
            )
        except (RemoteError, ProbeRunError) as err:
            click.echo(f"trainbed probe: {err}", err=True)
            sys.exit(2)
        except Interrupted as signal:  # before the first sbatch: nothing was submitted
            click.echo(f"trainbed probe: interrupted by {signal.name}", err=True)
            sys.exit(signal.exit_status)
        finally:
            remote.close()
    results = outcome.results
    progress(
        f"{outcome.submitted} Slurm job(s) submitted, {len(outcome.jobs)} in the suite; "
        f"scripts and raw outputs in {submit.hostname}:{outcome.remote_dir}"
    )
    for finding in results["findings"]:
        where = finding.get("node") or ", ".join(finding.get("nodes", []))
        if finding["kind"] == "subnet_manager":
            where = finding["rail"]
        hca = f" {finding['hca']}" if finding.get("hca") else ""
        click.echo(f"  {finding['kind']}: {where}{hca}: {finding['evidence']}")
    storage = results.get("storage")
    if storage:
        agg = storage["aggregate"]
        click.echo(
            f"  storage {storage['status'].replace('_', ' ')}: write {agg['write_gbs']} GB/s, "
            f"read {agg['read_gbs']} GB/s at {storage['directory']}"
        )
        for line in [*storage["failures"], *storage["not_measured"]]:
            click.echo(f"    {line}")
    for name, path in outcome.paths.items():
        click.echo(f"{name}: {path}")
    if results.get("bound"):
        bound = results["bound"]
        click.echo(f"verdict after {bound['elapsed_s']:g} s (bound {bound['seconds']} s)")
    verdict = "PASSED" if results["passed"] else "FAILED"
    if results.get("incomplete"):
        verdict = f"INCOMPLETE (interrupted by {results['interrupted']}), partial results"
    elif outcome.could_not_run:
        verdict = "COULD NOT RUN (no Slurm controller in control)"
    click.echo(
        f"{results['cluster']}: {verdict}, {len(results['findings'])} finding(s); reports in {out}"
    )
    sys.exit(outcome.exit_status)


probe.add_command(run_cmd, name=RUN_COMMAND)

COMMANDS = (probe, report)
