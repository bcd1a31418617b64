"""The seam between the Slurm run and the verdicts: raw outputs in, results document out.

The run (``trainbed probe INVENTORY``) submits the schedule's jobs, fetches what they printed and
calls :func:`evaluate` once with everything it got, then :func:`trainbed.probes.report.write_reports`.
Anything the run could not get (a job that timed out, a node that died, an sbatch rejection) is
passed as a :class:`Job` with its state and reason and an output whose ``text`` is None: the
verdict then fails with that reason and the rest of the suite is judged as usual.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trainbed.inventory.model import Inventory
from trainbed.parse.nccl import parse_nccl
from trainbed.parse.perftest import parse_ib_write_bw
from trainbed.parse.perftest_lat import parse_ib_write_lat
from trainbed.probes.facts import PortFact, cabling_findings
from trainbed.probes.jobs import Job
from trainbed.probes.judge import (
    IbVerdict,
    NcclVerdict,
    judge_ib_write_bw,
    judge_nccl,
    with_latency,
)
from trainbed.probes.localise import Finding, Hint
from trainbed.probes.matching import localise_quick
from trainbed.probes.results import (
    SUITES,
    Coverage,
    build_results,
    empty_versions,
    excluded_findings,
)
from trainbed.probes.schedule import build_schedule, schedule_summary
from trainbed.probes.storage import StorageResult
from trainbed.probes.subnet import sm_less_rails
from trainbed.probes.thresholds import ProbeThresholds, derive_thresholds
from trainbed.probes.topology import cable_findings, fabric_loads, trees
from trainbed.probes.training import TrainingVerdict

#: The run name of an ib_write_bw round's job (``trainbed.probes.scripts.ib_job``).
ROUND_JOB = re.compile(r"round\d+")


@dataclass(frozen=True, slots=True)
class NcclOutput:
    """What the NCCL run ``name`` (a schedule entry) printed; ``text`` None when nothing came back."""

    name: str
    text: str | None
    job_id: str | None = None


@dataclass(frozen=True, slots=True)
class IbOutput:
    """What ib_write_bw printed for ``node_a``–``node_b`` on ``rail``: the client side (the server's
    output may be appended; the client's figure is used). ``text`` None when nothing came back.
    ``lat_text``: what ib_write_lat printed after it, the same way; None when latency was not
    measured in this run ("" when it was and nothing came back: a failing latency)."""

    node_a: str
    node_b: str
    rail: str
    text: str | None
    job_id: str | None = None
    lat_text: str | None = None


def schedule_for(inventory: Inventory) -> dict[str, Any]:
    """The probe plan for ``inventory``'s compute nodes and rails."""
    return build_schedule(
        [n.hostname for n in inventory.compute], [r.name for r in inventory.rails]
    )


def summary_for(inventory: Inventory) -> dict[str, Any]:
    """:func:`schedule_for` at the size of what it runs (`trainbed probe plan --json`)."""
    return schedule_summary(
        [n.hostname for n in inventory.compute], [r.name for r in inventory.rails]
    )


def hca_on_rail(inventory: Inventory, hostname: str, rail: str) -> str | None:
    """The HCA device of compute node ``hostname`` on ``rail`` (None when it has none)."""
    try:
        node = inventory.compute_node(hostname)
    except KeyError:
        return None
    return next((h.device for h in node.hcas if h.rail == rail), None)


def judge_nccl_outputs(
    schedule: Mapping[str, Any],
    outputs: Iterable[NcclOutput],
    thresholds: ProbeThresholds,
    jobs: Mapping[str, Job],
) -> list[NcclVerdict]:
    """One verdict per scheduled NCCL run, in schedule order (no output: a failing verdict)."""
    by_name = {o.name: o for o in outputs}
    verdicts = []
    for spec in schedule["nccl"]:
        out = by_name.get(spec["name"])
        runs = parse_nccl(out.text)["runs"] if out and out.text is not None else []
        job = _job_for(out.job_id if out else None, spec["name"], jobs)
        if job is not None and not job.measured:
            continue  # no verdict: it shows in ``missing`` and blames no node
        verdicts.append(judge_nccl(spec, runs, thresholds, job))
    return verdicts


def judge_ib_outputs(
    inventory: Inventory,
    schedule: Mapping[str, Any],
    outputs: Iterable[IbOutput],
    thresholds: ProbeThresholds,
    jobs: Mapping[str, Job],
) -> list[IbVerdict]:
    """One verdict per scheduled pair × rail, round by round (no output: a failing verdict).

    An output of a known round's job (``round<k>``) counts for that round only: a pair measured
    again after its round's job was not measured gets one verdict, the later round's.
    """
    by_key: dict[tuple[str | None, frozenset[str], str], IbOutput] = {}
    for o in outputs:
        known = jobs.get(o.job_id) if o.job_id is not None else None
        name = known.name if known and ROUND_JOB.fullmatch(known.name) else None
        by_key[(name, frozenset((o.node_a, o.node_b)), o.rail)] = o
    plan = schedule["ib_write_bw"]
    verdicts = []
    for number, rnd in enumerate(plan["rounds"], start=1):
        for a, b in rnd:
            for rail in plan["rails"]:
                pair = frozenset((a, b))
                out = by_key.get((f"round{number}", pair, rail)) or by_key.get((None, pair, rail))
                job = (
                    _job_for(out.job_id, f"{a}-{b}", jobs)
                    if out
                    else jobs.get(f"round{number}", jobs.get(f"{a}-{b}"))
                )
                if job is not None and not job.measured:
                    continue  # no verdict: it shows in ``missing`` and blames no node
                runs = parse_ib_write_bw(out.text)["runs"] if out and out.text is not None else []
                lat = out.lat_text if out else None
                lat_runs = parse_ib_write_lat(lat)["runs"] if lat is not None else None
                verdict = judge_ib_write_bw(
                    round=number,
                    node_a=a,
                    node_b=b,
                    rail=rail,
                    hca_a=hca_on_rail(inventory, a, rail),
                    hca_b=hca_on_rail(inventory, b, rail),
                    runs=runs,
                    thresholds=thresholds,
                    job=job,
                )
                if lat_runs is not None:  # None: latency was not measured in this run
                    verdict = with_latency(verdict, lat_runs, thresholds)
                verdicts.append(verdict)
    return verdicts


def _job_for(job_id: str | None, name: str, jobs: Mapping[str, Job]) -> Job | None:
    """The job by id, else a rejected job recorded under the run's name (no id)."""
    if job_id is not None and job_id in jobs:
        return jobs[job_id]
    return jobs.get(name)


def _index_jobs(jobs: Iterable[Job]) -> dict[str, Job]:
    """Jobs by id and by name; of jobs sharing a name (a resubmission) the last one counts."""
    index: dict[str, Job] = {}
    for job in jobs:
        index[job.name] = job
        if job.job_id is not None:
            index[job.job_id] = job
    return index


def _measured_versions(outputs: Iterable[NcclOutput]) -> dict[str, str | None]:
    """NCCL and nccl-tests versions as the runs printed them (the first that did)."""
    found: dict[str, str | None] = {"nccl": None, "nccl_tests": None}
    for out in outputs:
        if out.text is None:
            continue
        for run in parse_nccl(out.text)["runs"]:
            found["nccl"] = found["nccl"] or run.get("nccl_version")
            found["nccl_tests"] = found["nccl_tests"] or run.get("nccl_tests_version")
    return found


def evaluate(
    inventory: Inventory,
    *,
    started: datetime | str,
    finished: datetime | str | None,
    nccl_outputs: Sequence[NcclOutput] = (),
    ib_outputs: Sequence[IbOutput] = (),
    jobs: Sequence[Job] = (),
    suites: Sequence[str] = SUITES,
    versions: Mapping[str, Any] | None = None,
    hints: Sequence[Hint] = (),
    schedule: Mapping[str, Any] | None = None,
    training: Sequence[TrainingVerdict] = (),
    coverage: Coverage | None = None,
    extra_findings: Sequence[Finding] = (),
    controller: Mapping[str, Any] | None = None,
    ports: Mapping[tuple[str, str], PortFact] | None = None,
    storage: StorageResult | None = None,
    quick: bool = False,
    topology_from: int | None = None,
) -> dict[str, Any]:
    """Parse, judge and localise everything the run collected; return the results document.

    ``coverage`` is what the run could not measure (excluded nodes, interrupts) and its bound;
    ``schedule`` then holds only what was measured.

    ``versions`` follows the schema's ``versions`` block (see ``results.node_versions``); NCCL and
    nccl-tests versions the runs printed fill what it leaves None. ``schedule`` defaults to
    :func:`schedule_for` the inventory; only the suites in ``suites`` are judged. Jobs recorded
    as not measured get no verdict. ``extra_findings`` (a controller fault) come first and fail
    the suite; ``controller`` is what the controller checks saw. ``ports`` (the run's ibstat,
    by node and rail) name a rail with no master subnet manager. ``quick``: the ib_write_bw
    verdicts are quick-mode rounds, localised by :func:`~trainbed.probes.matching.localise_quick`;
    from round ``topology_from`` on they are topology rounds, localised to cables by
    :func:`~trainbed.probes.topology.cable_findings`.
    """
    schedule = schedule if schedule is not None else schedule_for(inventory)
    thresholds = derive_thresholds(inventory)
    job_index = _index_jobs(jobs)
    nccl = (
        judge_nccl_outputs(schedule, nccl_outputs, thresholds, job_index)
        if "nccl" in suites
        else []
    )
    ib = (
        judge_ib_outputs(inventory, schedule, ib_outputs, thresholds, job_index)
        if "ib_write_bw" in suites
        else []
    )
    merged = {**empty_versions(), **(versions or {})}
    for key, value in _measured_versions(nccl_outputs).items():
        merged[key] = merged[key] or value
    rail_findings = sm_less_rails(ib, ports or {})
    cabled = cabling_findings(inventory, ports or {})
    findings = None
    if quick:
        last = (
            topology_from
            if topology_from is not None
            else max((v.round for v in ib), default=0) + 1
        )
        findings = [
            *excluded_findings(coverage or Coverage()),
            *localise_quick(
                [v for v in ib if v.round < last],
                nccl,
                rail_findings,
                cabled,
            ),
            *(cable_findings(inventory, ib, topology_from) if topology_from is not None else []),
        ]
    return build_results(
        cluster=inventory.cluster.name,
        inventory_file=inventory.source,
        started=started,
        finished=finished,
        schedule=schedule,
        thresholds=thresholds,
        nccl=nccl,
        ib_write_bw=ib,
        jobs=jobs,
        suites=suites,
        versions=merged,
        hints=hints,
        training=training,
        coverage=coverage,
        extra_findings=extra_findings,
        controller=controller,
        rail_findings=rail_findings,
        cabling=cabled,
        findings=findings,
        storage=storage,
        mode="quick" if quick else "full",
        fabric=fabric_loads(trees(inventory), ib) if ib else None,
    )
