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
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


#: ``--mode``: ``full`` every pair (commissioning), ``quick`` at most three rounds.
MODES = ("full", "quick")
mode_option = click.option(
    "--mode",
    type=click.Choice(MODES),
    default="full",
    show_default=True,
    help="ib_write_bw: full (every pair, N−1 rounds) or quick (a matching, ≤ 3 rounds).",
)


def mode_schedule(inv: Inventory, mode: str) -> dict[str, Any]:
    """The plan of ``mode``: quick mode's holds round 1 (rounds 2–3 follow its verdicts)."""
    from trainbed.probes.quick import quick_schedule

    return quick_schedule(inv) if mode == "quick" else schedule_for(inv)


@probe.command("plan")
@click.argument("inventory", type=click.Path(dir_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option(
    "--pairs",
    is_flag=True,
    help="List every ib_write_bw pair of every round (N(N-1)/2 pairs; the full schedule).",
)
@mode_option
def plan(inventory: str, as_json: bool, pairs: bool, mode: str) -> None:
    """Print the probe schedule for INVENTORY: ib_write_bw rounds and NCCL runs. No SSH.

    Full mode without --pairs: each round shows its first pairs and the JSON counts the rounds
    (round r's pairs follow from the node order by the circle method): the output grows with the
    rounds, not with the N(N-1)/2 pairs. Quick mode: only round 1 is known beforehand (its N/2
    pairs, listed); rounds 2 and 3 re-pair what fails.
    """
    inv = load_or_exit(inventory)
    if mode == "quick":
        schedule = mode_schedule(inv, mode)
        if as_json:
            click.echo(json.dumps(schedule, indent=2))
        else:
            for line in _schedule_lines(schedule):
                click.echo(line)
        return
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


def _schedule_lines(schedule: dict[str, Any]) -> list[str]:
    """A schedule listed whole (quick mode's round 1: N/2 pairs a rail)."""
    ib = schedule["ib_write_bw"]
    rails = ib["rails"]
    pairs = sum(len(r) for r in ib["rounds"])
    lines = [
        f"ib_write_bw: {pairs} pairs × {len(rails)} rails ({', '.join(rails)}) "
        f"in {len(ib['rounds'])} rounds"
    ]
    for number, rnd in enumerate(ib["rounds"], start=1):
        lines.append(f"  round {number:>3}: " + "  ".join(f"{a}–{b}" for a, b in rnd))
    lines.append(f"nccl all_reduce: {len(schedule['nccl'])} runs")
    width = max((len(run["name"]) for run in schedule["nccl"]), default=0)
    for run in schedule["nccl"]:
        env = " ".join(f"{k}={v}" for k, v in run.get("env", {}).items())
        nodes = ",".join(run["nodes"])
        lines.append(f"  {run['name']:<{width}}  {run['kind']:<6}  {nodes}  {env}".rstrip())
    return lines


baseline_option = click.option(
    "--baseline",
    "baseline_file",
    type=click.Path(dir_okay=False, path_type=str),
    help="Also judge against this fleet baseline (trainbed baseline): robust-z suspects.",
)


def _read_baseline(baseline_file: str | None) -> dict[str, Any] | None:
    """The baseline document (checked: ``BaselineError``), None without ``--baseline``."""
    if baseline_file is None:
        return None
    from trainbed.probes.baseline import references

    try:
        doc = json.loads(Path(baseline_file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise TrainbedError(f"{baseline_file}: cannot read the baseline: {err}") from None
    if not isinstance(doc, dict):
        raise TrainbedError(f"{baseline_file}: not a trainbed baseline")
    try:
        references(doc)
    except TrainbedError as err:
        raise TrainbedError(f"{baseline_file}: {err}") from None
    return doc


def _with_baseline(
    results: dict[str, Any], baseline_file: str | None, baseline: dict[str, Any] | None
) -> int:
    """Attach the baseline judgement to ``results``; the severe outliers' count (0 without one)."""
    if baseline_file is None or baseline is None:
        return 0
    from trainbed.probes.baseline import judge_against

    block = judge_against(results, baseline, baseline_file)
    results["baseline"] = block
    levels = [o["level"] for o in block["outliers"]]
    click.echo(
        f"baseline {baseline_file}: {levels.count('suspect')} suspect, "
        f"{levels.count('severe')} severe outlier(s), {len(block['findings'])} finding(s)"
    )
    for finding in block["findings"]:
        hca = f" {finding['hca']}" if finding.get("hca") else ""
        where = finding.get("node") or ", ".join(finding.get("nodes", []))
        click.echo(f"  {finding['kind']}: {where}{hca}: {finding['evidence']}")
    return levels.count("severe")


@click.command("report")
@click.argument("directory", type=click.Path(file_okay=False, path_type=str))
@baseline_option
def report(directory: str, baseline_file: str | None = None) -> None:
    """Render the reports again from DIRECTORY: a probe run's results.json (report.md, junit.xml,
    heatmap PNG, report.html), or a `trainbed accept` directory's acceptance.json (its probe/
    reports, acceptance.md and the one HTML report, report.html).

    Exit 0 when the results passed (accepted), 1 when they failed (or, with --baseline, a probe
    figure is a severe outlier), 2 when the document or the baseline is missing or invalid.
    """
    from trainbed.accept import DOCUMENT, load_acceptance, write_acceptance
    from trainbed.html_report import write_html

    base = Path(directory)
    try:
        reference = _read_baseline(baseline_file)
        if (base / DOCUMENT).exists():
            doc = load_acceptance(base / DOCUMENT)
            paths = {}
            severe = 0
            if doc["probe"] is not None:
                severe = _with_baseline(doc["probe"], baseline_file, reference)
                paths = write_reports(doc["probe"], base / "probe")
            paths |= write_acceptance(doc, base)
            paths["report.html"] = write_html(base, doc["probe"], doc, base / "probe")
            passed, count = bool(doc["accepted"]), len(doc["reasons"])
            verdict = "ACCEPTED" if passed else "NOT ACCEPTED"
            cluster, what = doc["cluster"], "reason(s)"
        else:
            results = load_results(base / "results.json")
            severe = _with_baseline(results, baseline_file, reference)
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
    sys.exit(0 if passed and not severe else 1)


@click.command("baseline")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=str),
    help="Write the baseline here (default: standard output).",
)
def baseline(results: tuple[str, ...], out_file: str | None) -> None:
    """Build a fleet baseline from RESULTS (results.json files or run directories).

    Per measurement kind and size, the median and MAD of the passing runs' figures; judge a run
    against it with `trainbed report DIR --baseline FILE` or `trainbed probe ... --baseline FILE`.
    Exit 2 when a file is invalid or no run passed.
    """
    from trainbed.probes.baseline import build_baseline

    try:
        docs = [load_results(Path(r) / "results.json" if Path(r).is_dir() else r) for r in results]
        doc = build_baseline(docs)
    except TrainbedError as err:
        click.echo(f"trainbed baseline: {err}", err=True)
        sys.exit(2)
    text = json.dumps(doc, indent=2) + "\n"
    if out_file is None:
        click.echo(text, nl=False)
        return
    Path(out_file).write_text(text, encoding="utf-8")
    used = len(doc["runs"])
    click.echo(f"{out_file}: {len(doc['references'])} reference(s) from {used} passing run(s)")


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
@mode_option
@baseline_option
def run_cmd(
    inventory: str,
    suite: str,
    model: str,
    train_nodes: int | None,
    out_dir: str | None,
    mode: str = "full",
    baseline_file: str | None = None,
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
    try:
        baseline_doc = _read_baseline(baseline_file)
    except TrainbedError as err:
        raise click.BadParameter(str(err), param_hint="--baseline") from None
    if mode == "quick" and "training" in suites:
        raise click.BadParameter("quick mode runs nccl and ib only", param_hint="--mode/--suite")
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
            if mode == "quick":
                from trainbed.probes.quick import run_quick_suite

                outcome = run_quick_suite(
                    inv,
                    remote,
                    out,
                    suites=suites,
                    progress=progress,
                    guard=guard,
                    baseline=baseline_doc,
                )
            else:
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
    try:
        severe = _with_baseline(results, baseline_file, baseline_doc)
    except TrainbedError as err:  # a baseline of another cluster
        click.echo(f"trainbed probe: {err}", err=True)
        sys.exit(2)
    if baseline_file is not None:
        outcome = replace(outcome, paths=write_reports(results, out))
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
    sys.exit(outcome.exit_status or (1 if severe else 0))


probe.add_command(run_cmd, name=RUN_COMMAND)

COMMANDS = (probe, report, baseline)
