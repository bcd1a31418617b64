"""``trainbed probe INVENTORY``: run the probe suite through Slurm and write the reports.

Stage the batch scripts in a fresh directory under ``probes.work_dir`` on the submit host (a
filesystem the compute nodes share), submit them all with ``sbatch --parsable`` (Slurm runs them
as nodes free up; ``--exclusive`` keeps measurements on one node apart), follow them with
squeue/sacct, fetch what they wrote over SFTP, then :func:`evaluate` and :func:`write_reports`.
Whatever happens to one job (refused, timed out, node lost) is recorded and the rest goes on.
"""

from __future__ import annotations

import secrets
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trainbed.errors import TrainbedError
from trainbed.inventory.model import Inventory
from trainbed.probes import facts as node_facts
from trainbed.probes.controller import (
    BEFORE_SUBMITTING,
    ControllerGuard,
    ControllerLost,
    is_controller_error,
    lost_in_takeover,
    not_measured,
)
from trainbed.probes.evaluate import IbOutput, NcclOutput, evaluate, schedule_for
from trainbed.probes.jobs import Job
from trainbed.probes.remote import Remote, SshRemote
from trainbed.probes.report import write_reports
from trainbed.probes.scripts import FACTS_DIR, FACTS_SCRIPT, JobSpec, facts_script, suite_jobs
from trainbed.probes.slurm import Slurm, time_limit_seconds
from trainbed.probes.training import judge_training
from trainbed.probes.watch import Progress, Tracked, Watcher

REJECTED = "REJECTED"


class ProbeRunError(TrainbedError):
    """The suite could not be run at all (no connection, no work directory)."""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What one run produced: the results document, the report files, where the jobs worked."""

    results: dict[str, Any]
    paths: dict[str, Path]
    jobs: tuple[Job, ...]
    remote_dir: str
    could_not_run: bool = False  # nothing measured: no controller was in control

    @property
    def submitted(self) -> int:
        """Slurm jobs that sbatch accepted."""
        return sum(j.job_id is not None for j in self.jobs)


def connect(inventory: Inventory) -> SshRemote:
    """An SSH connection to the inventory's submit host, its host key verified."""
    node = inventory.submit_host
    return SshRemote.connect(inventory, node.hostname, node.address)


def make_run_dir(remote: Remote, work_dir: str, run_id: str) -> str:
    """Create ``work_dir/run_id`` on the submit host; its absolute path."""
    path = f"{work_dir.rstrip('/')}/{run_id}"
    done = remote.run(f"mkdir -p -- {shlex.quote(path)} && cd -- {shlex.quote(path)} && pwd")
    if not done.ok or not done.stdout.strip().startswith("/"):
        raise ProbeRunError(
            f"{remote.host}: cannot create the probe directory {path}: {done.stderr.strip()}"
        )
    return done.stdout.strip().splitlines()[-1]


def stage(remote: Remote, inventory: Inventory, rundir: str, jobs: Sequence[JobSpec]) -> None:
    """Write every job's files and the facts script; create the output directories."""
    dirs = {f"{rundir}/{FACTS_DIR}"} | {
        f.client.rsplit("/", 1)[0] for job in jobs for f in job.ib_files
    }
    done = remote.run("mkdir -p -- " + " ".join(shlex.quote(d) for d in sorted(dirs)))
    if not done.ok:
        raise ProbeRunError(f"{remote.host}: cannot create {rundir}/…: {done.stderr.strip()}")
    remote.write_text(f"{rundir}/{FACTS_SCRIPT}", facts_script(inventory, rundir), 0o755)
    for job in jobs:
        for name, content in job.files.items():
            remote.write_text(f"{rundir}/{name}", content, 0o755)


def submit_all(
    slurm: Slurm,
    rundir: str,
    jobs: Sequence[JobSpec],
    progress: Progress,
    guard: ControllerGuard | None = None,
) -> tuple[list[Tracked], list[Job]]:
    """sbatch every job; (accepted jobs to follow, refused jobs recorded as REJECTED).

    With a ``guard``, a controller error asks the controller at once and the job is submitted
    once more when one is in control; once none is, the job and every later one are recorded
    as not measured (controller) without another sbatch.
    """
    tracked: list[Tracked] = []
    rejected: list[Job] = []
    for spec in jobs:
        label = f"{spec.suite} {spec.run_name}"
        if guard is not None and guard.lost:
            why = guard.report.lost or "no controller in control"
            rejected.append(not_measured(spec.run_name, spec.suite, spec.nodes, why))
            continue
        answer = slurm.submit(spec.script, rundir)
        if answer.job_id is None and guard is not None and is_controller_error(answer.error):
            progress(f"{label}: sbatch failed: {answer.error}; asking the controller")
            if guard.check(f"sbatch {spec.run_name}: {answer.error}"):
                answer = slurm.submit(spec.script, rundir)
            if answer.job_id is None and is_controller_error(answer.error):
                why = guard.report.lost or f"sbatch: {answer.error}"
                progress(f"{label}: not measured (controller): {why}")
                rejected.append(not_measured(spec.run_name, spec.suite, spec.nodes, why))
                continue
        if answer.job_id is None:
            progress(f"{label}: sbatch refused the job: {answer.error}")
            rejected.append(
                Job(None, spec.run_name, spec.suite, spec.nodes, REJECTED, answer.error)
            )
            continue
        progress(f"{label}: submitted as job {answer.job_id} on {','.join(spec.nodes)}")
        tracked.append(Tracked(answer.job_id, spec.run_name, spec.suite, spec.nodes))
    return tracked, rejected


def _text(remote: Remote, path: str, raw: Path, rundir: str) -> str | None:
    """A remote output file, also kept under ``raw`` locally."""
    text = remote.read_text(path)
    if text is not None:
        local = raw / path.removeprefix(rundir + "/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(text, encoding="utf-8")
    return text


@dataclass(frozen=True, slots=True)
class Fetched:
    """What the jobs wrote: NCCL logs, ib_write_bw outputs, node facts, training logs by job."""

    nccl: list[NcclOutput]
    ib: list[IbOutput]
    facts: dict[str, str]
    training: dict[str, tuple[str | None, str | None]]  # job name → (log, job id)


def fetch(
    remote: Remote,
    inventory: Inventory,
    rundir: str,
    specs: Sequence[JobSpec],
    jobs: Sequence[Job],
    raw: Path,
) -> Fetched:
    """Everything the jobs wrote: NCCL logs, ib_write_bw client+server outputs, node facts."""
    by_name = {(j.suite, j.name): j for j in jobs}
    nccl: list[NcclOutput] = []
    ib: list[IbOutput] = []
    training: dict[str, tuple[str | None, str | None]] = {}
    for spec in specs:
        job = by_name[(spec.suite, spec.run_name)]
        # The job's name stands in for the id of a refused job: evaluate indexes jobs by both.
        ref = job.job_id or job.name
        if spec.suite == "training":
            log = f"{rundir}/{spec.log}"
            training[spec.run_name] = (
                _text(remote, log, raw, rundir) if job.job_id else None,
                job.job_id,
            )
            continue
        if spec.suite == "nccl":
            text = _text(remote, spec.log, raw, rundir) if job.job_id else None
            nccl.append(NcclOutput(spec.run_name, text, ref))
            continue
        if job.job_id:
            _text(remote, spec.log, raw, rundir)
        for f in spec.ib_files:
            parts = []
            if job.job_id:
                parts = [_text(remote, p, raw, rundir) for p in (f.client, f.server)]
            found = [p for p in parts if p is not None]
            ib.append(
                IbOutput(f.node_a, f.node_b, f.rail, "\n".join(found) if found else None, ref)
            )
    facts: dict[str, str] = {}
    for node in inventory.compute:
        text = _text(remote, f"{rundir}/{FACTS_DIR}/{node.hostname}.txt", raw, rundir)
        if text is not None:
            facts[node.hostname] = text
    return Fetched(nccl, ib, facts, training)


def run_suite(
    inventory: Inventory,
    remote: Remote,
    out_dir: str | Path,
    *,
    suites: Sequence[str] = ("nccl", "ib_write_bw"),
    training: tuple[str, int] | None = None,
    progress: Progress = lambda _: None,
    poll_s: float = 2.0,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> RunOutcome:
    """Run the selected suites on the cluster behind ``remote``; write the reports to ``out_dir``.

    ``training`` (model, nodes) is the NeMo job of the training suite, when it is selected.
    """
    started = datetime.now(UTC)
    schedule = schedule_for(inventory)
    run_id = f"{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    rundir = make_run_dir(remote, inventory.probes.work_dir, run_id)
    specs = suite_jobs(inventory, schedule, suites, rundir, training)
    progress(f"staging {len(specs)} job(s) in {remote.host}:{rundir}")
    stage(remote, inventory, rundir, specs)
    guard = ControllerGuard(
        remote,
        [n.hostname for n in inventory.slurmctld_hosts],
        progress,
        clock or time.monotonic,
        sleep or time.sleep,
    )
    slurm = Slurm(remote, on_error=guard.on_slurm_error)
    guard.check(BEFORE_SUBMITTING)
    tracked, rejected = submit_all(slurm, rundir, specs, progress, guard)
    watcher_args: dict[str, Any] = {"progress": progress, "poll_s": poll_s}
    if clock is not None:
        watcher_args["clock"] = clock
    if sleep is not None:
        watcher_args["sleep"] = sleep
    # Jobs with their own time limit (training) are followed after the probes, by that limit.
    limits = {s.run_name: s.time_limit or inventory.probes.job_time_limit for s in specs}
    finished_jobs: list[Job] = []
    for limit in dict.fromkeys(limits.values()):
        group = [t for t in tracked if limits[t.name] == limit]
        if group and guard.lost:
            finished_jobs += _controller_lost(group, guard)
        elif group:
            watcher = Watcher(slurm, limit, time_limit_seconds(limit), **watcher_args)
            try:
                finished_jobs += watcher.watch(group)
            except ControllerLost:
                finished_jobs += _controller_lost(group, guard)
    finished_jobs = [lost_in_takeover(j, guard) for j in finished_jobs]
    jobs = _in_order(specs, [*finished_jobs, *rejected])
    out = Path(out_dir)
    fetched = fetch(remote, inventory, rundir, specs, jobs, out / "raw")
    verdicts = (
        []
        if training is None
        else [
            judge_training(inventory, *training, log, job) for log, job in fetched.training.values()
        ]
    )
    results = evaluate(
        inventory,
        started=started,
        finished=datetime.now(UTC),
        nccl_outputs=fetched.nccl,
        ib_outputs=fetched.ib,
        jobs=jobs,
        suites=suites,
        versions=node_facts.versions(inventory, fetched.facts),
        hints=node_facts.port_hints(inventory, fetched.facts),
        ports=node_facts.port_facts(inventory, fetched.facts),
        schedule=schedule,
        training=verdicts,
        extra_findings=guard.report.findings(measured=any(j.measured for j in jobs)),
        controller=guard.report.as_dict(),
    )
    paths = write_reports(results, out)
    nothing = guard.lost and not any(j.measured for j in jobs)
    return RunOutcome(results, paths, tuple(jobs), rundir, could_not_run=nothing)


def _controller_lost(group: Sequence[Tracked], guard: ControllerGuard) -> list[Job]:
    """The jobs of ``group``: those that ended as they ended, the others not measured."""
    why = guard.report.lost or "no controller in control"
    return [
        t.final
        or not_measured(
            t.name, t.suite, t.nodes, f"{why}; job {t.job_id} may still run later", t.job_id
        )
        for t in group
    ]


def _in_order(specs: Sequence[JobSpec], jobs: Sequence[Job]) -> list[Job]:
    by_name = {(j.suite, j.name): j for j in jobs}
    return [by_name[(s.suite, s.run_name)] for s in specs if (s.suite, s.run_name) in by_name]
