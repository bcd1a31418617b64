"""``trainbed probe --mode quick``: the suite with at most three ib_write_bw rounds.

Round 1 (:func:`trainbed.probes.matching.first_round`) goes with the single-node and two-node
NCCL runs; rounds 2 and 3 (:func:`~trainbed.probes.matching.next_round`) only when the verdicts so
far leave a node unresolved, each submitted once the one before is judged. Every round is a
:class:`~trainbed.probes.follow.Campaign` of its own, without the full suite's re-pairing (the next
quick round re-pairs): a node Slurm reports down or drained, before the run or during a round,
is excluded from the rounds after it and reported not measured with its state; the rest is
judged. Findings come from :func:`~trainbed.probes.matching.localise_rounds`.

With leaves and spines in the inventory, the topology rounds
(:func:`~trainbed.probes.topology.topology_rounds`, at most three) follow and load every
leaf–spine cable once each way; :func:`~trainbed.probes.topology.cable_findings` names a bad
cable, spine or leaf from them.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trainbed.inventory.model import Inventory
from trainbed.probes import facts as node_facts
from trainbed.probes.baseline import below_baseline
from trainbed.probes.bound import Budget, run_bound
from trainbed.probes.controller import (
    BEFORE_SUBMITTING,
    WAIT_BUDGET_S,
    ControllerGuard,
    lost_in_takeover,
)
from trainbed.probes.evaluate import IbOutput, NcclOutput, evaluate, judge_ib_outputs
from trainbed.probes.follow import Campaign, limit_s
from trainbed.probes.interrupt import SignalGuard, no_guard
from trainbed.probes.jobs import Job
from trainbed.probes.judge import IbVerdict
from trainbed.probes.matching import MAX_ROUNDS, Pair, first_round, run_rounds
from trainbed.probes.nodes import node_health, unusable
from trainbed.probes.replan import Excluded, NotMeasured, Unit
from trainbed.probes.report import write_reports
from trainbed.probes.results import Coverage
from trainbed.probes.run import RunOutcome, fetch, make_run_dir, stage
from trainbed.probes.schedule import nccl_groups
from trainbed.probes.scripts import JobSpec, ib_job, suite_jobs
from trainbed.probes.slurm import Slurm
from trainbed.probes.thresholds import derive_thresholds
from trainbed.probes.topology import topology_rounds, trees
from trainbed.probes.watch import Progress
from trainbed.remote import SubmitHost


def leaves(inventory: Inventory) -> dict[str, str]:
    """Each compute node's leaf key: its HCAs' switches in rail order."""
    return {n.hostname: ",".join(str(h.switch) for h in n.hcas) for n in inventory.compute}


def quick_nccl(nodes: Sequence[str]) -> list[dict[str, Any]]:
    """Quick mode's NCCL runs: every node alone and the disjoint two-node rings."""
    return [g for g in nccl_groups(nodes) if g["kind"] in ("single", "pair")]


def quick_schedule(inventory: Inventory, nodes: Sequence[str] | None = None) -> dict[str, Any]:
    """Round 1 and the NCCL runs of quick mode, as :func:`~trainbed.probes.schedule.build_schedule`
    lays a plan out (later rounds depend on round 1's verdicts)."""
    names = list(nodes) if nodes is not None else [n.hostname for n in inventory.compute]
    pairs = first_round(names, leaves(inventory))
    return {
        "ib_write_bw": {
            "rails": [r.name for r in inventory.rails],
            "rounds": [[[a, b] for a, b in pairs]],
        },
        "nccl": quick_nccl(names),
    }


def _round_schedule(rails: Sequence[str], number: int, pairs: Sequence[Pair]) -> dict[str, Any]:
    """Round ``number`` alone; the rounds before it empty, so verdicts carry its number."""
    rounds: list[list[list[str]]] = [[] for _ in range(number - 1)]
    return {"ib_write_bw": {"rails": list(rails), "rounds": [*rounds, [list(p) for p in pairs]]}}


class _Stop(Exception):
    """No further round: interrupted, or no controller in control."""


def run_quick_suite(
    inventory: Inventory,
    remote: SubmitHost,
    out_dir: str | Path,
    *,
    suites: Sequence[str] = ("nccl", "ib_write_bw"),
    progress: Progress = lambda _: None,
    poll_s: float = 2.0,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    guard: SignalGuard | None = None,
    baseline: Mapping[str, Any] | None = None,
) -> RunOutcome:
    """Quick mode on the cluster behind ``remote`` (see the module doc); reports in ``out_dir``.

    With a fleet ``baseline``, a pair below it (:func:`~trainbed.probes.baseline.below_baseline`)
    counts as failing when the next round is planned, so a slow port is re-paired and named;
    the verdicts themselves stay the absolute judge's (the baseline block judges them after)."""
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    started = datetime.now(UTC)
    start = clock()
    run_id = f"{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    controller = ControllerGuard(
        remote, [n.hostname for n in inventory.slurmctld_hosts], progress, clock, sleep
    )
    slurm = Slurm(remote, on_error=controller.on_slurm_error)
    rundir = make_run_dir(remote, inventory.probes.work_dir, run_id)
    controller.check(BEFORE_SUBMITTING)
    names = [n.hostname for n in inventory.compute]
    rails = [r.name for r in inventory.rails]
    listed = slurm.nodes(names)
    bad = unusable(node_health(listed, names)) if listed is not None else {}
    excluded = {n: Excluded(n, h.state, h.reason, 0.0) for n, h in bad.items()}
    for item in excluded.values():
        progress(f"{item.node}: not measured: Slurm reports {item.state}; excluded before the run")
    remaining = [n for n in names if n not in excluded]
    first = quick_schedule(inventory, remaining)
    nccl_plan = first["nccl"] if "nccl" in suites else []
    not_measured = [
        NotMeasured(Unit("nccl", f"single-{n}", (n,)), excluded[n].why()) for n in excluded
    ]
    if "ib_write_bw" in suites:
        not_measured += [
            NotMeasured(Unit("ib_write_bw", f"{n} round 1", (n,)), excluded[n].why())
            for n in excluded
        ]
    specs = suite_jobs(inventory, {**first, "nccl": nccl_plan}, suites, rundir)
    later = ib_job(inventory, MAX_ROUNDS, first["ib_write_bw"]["rounds"][0], rails, rundir, True)
    fabric = trees(inventory) if "ib_write_bw" in suites else []
    topology = topology_rounds(fabric[0]) if fabric else []
    # Rounds 2.. : a lost round is planned again (matching.run_rounds), so up to 2 × MAX_ROUNDS;
    # then the topology rounds.
    extra = (
        [limit_s(later, inventory)] * (2 * MAX_ROUNDS - 1 + len(topology))
        if fabric or ("ib_write_bw" in suites)
        else []
    )
    bound = run_bound(
        [*(limit_s(s, inventory) for s in specs), *extra], controller_wait_s=int(WAIT_BUDGET_S)
    )
    budget = Budget(bound, clock, start)
    progress(f"bound: {bound.describe()}")
    thresholds = derive_thresholds(inventory)
    out = Path(out_dir)
    all_specs: list[JobSpec] = []
    jobs: list[Job] = []
    nccl_outputs: list[NcclOutput] = []
    ib_outputs: list[IbOutput] = []
    facts: dict[str, str] = {}
    rounds: list[list[list[str]]] = []
    state: dict[str, Any] = {"interrupted": None, "nccl": []}

    def campaign(
        schedule: dict[str, Any], round_specs: list[JobSpec]
    ) -> tuple[list[Job], dict[str, Any]]:
        """Run one round's jobs; the jobs, and the round's schedule less what was not measured
        (an exclusion takes a whole job: its pairs of remaining nodes wait for the next round)."""
        progress(f"staging {len(round_specs)} job(s) in {remote.host}:{rundir}")
        stage(remote, inventory, rundir, round_specs)
        run = Campaign(
            inventory,
            slurm,
            rundir,
            suites,
            schedule,
            list(round_specs),
            budget,
            lambda more: stage(remote, inventory, rundir, more),
            progress,
            poll_s,
            sleep,
            guard.hold if guard is not None else no_guard,
            excluded=dict(excluded),
            controller=controller,
            repair=False,
        )
        run.run()
        excluded.update(run.excluded)
        not_measured.extend(run.not_measured)
        ended = [lost_in_takeover(j, controller) for j in run.all_jobs()]
        fetched = fetch(remote, inventory, rundir, run.specs, ended, out / "raw")
        done = fetched.jobs  # a job whose archive was lost is now not measured
        jobs.extend(done)
        all_specs.extend(run.specs)
        nccl_outputs.extend(fetched.nccl)
        ib_outputs.extend(fetched.ib)
        facts.update(fetched.facts)
        if run.interrupted is not None:
            state["interrupted"] = run.interrupted
        state["nccl"] += run.schedule["nccl"]
        return done, run.schedule

    def measure(number: int, pairs: list[Pair]) -> list[IbVerdict]:
        if state["interrupted"] is not None or controller.lost:
            raise _Stop
        schedule = {**_round_schedule(rails, number, pairs), "nccl": []}
        if number == 1:
            schedule["nccl"] = nccl_plan
            round_specs = specs
        else:
            progress(f"ib_write_bw round {number}: {len(pairs)} pair(s) to resolve failures")
            round_specs = suite_jobs(inventory, schedule, ["ib_write_bw"], rundir)
        done, taken = campaign(schedule, round_specs)
        rounds.append(taken["ib_write_bw"]["rounds"][number - 1])
        index = {j.job_id or j.name: j for j in done} | {j.name: j for j in done}
        own = [o for o in ib_outputs if o.job_id in index]
        return judge_ib_outputs(inventory, taken, own, thresholds, index)

    first_topology: int | None = None
    if "ib_write_bw" in suites:
        with contextlib.suppress(_Stop):
            plan = measure
            if baseline is not None:
                reference = baseline

                def plan(number: int, pairs: list[Pair]) -> list[IbVerdict]:
                    return below_baseline(measure(number, pairs), reference)

            run_rounds(remaining, rails, plan, leaves(inventory), lambda: set(excluded))
            first_topology = len(rounds) + 1
            for pairs in topology:
                live = [p for p in pairs if not set(p) & set(excluded)]
                if live:
                    progress(
                        f"ib_write_bw round {len(rounds) + 1}: leaf–spine cables, {len(live)} pair(s)"
                    )
                    measure(len(rounds) + 1, live)
    elif nccl_plan:
        campaign({**_round_schedule(rails, 1, []), "nccl": nccl_plan}, specs)
    schedule = {"ib_write_bw": {"rails": rails, "rounds": rounds}, "nccl": state["nccl"]}
    interrupted = state["interrupted"]
    results = evaluate(
        inventory,
        started=started,
        finished=datetime.now(UTC),
        nccl_outputs=nccl_outputs,
        ib_outputs=ib_outputs,
        jobs=jobs,
        suites=suites,
        versions=node_facts.versions(inventory, facts),
        hints=node_facts.port_hints(inventory, facts),
        ports=node_facts.port_facts(inventory, facts),
        schedule=schedule,
        coverage=Coverage(
            bound=bound,
            elapsed_s=budget.elapsed(),
            excluded=list(excluded.values()),
            not_measured=not_measured,
            interrupted=interrupted.name if interrupted else None,
        ),
        extra_findings=controller.report.findings(measured=any(j.measured for j in jobs)),
        controller=controller.report.as_dict(),
        quick=True,
        topology_from=first_topology,
    )
    paths = write_reports(results, out)
    nothing = controller.lost and not any(j.measured for j in jobs)
    signum = interrupted.signum if interrupted else None
    return RunOutcome(results, paths, tuple(jobs), rundir, signum, could_not_run=nothing)
