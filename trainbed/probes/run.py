"""``trainbed probe INVENTORY``: run the probe suite through Slurm and write the reports.

Read the nodes' Slurm states (a node that cannot run jobs is excluded before anything is
submitted), stage the batch scripts in a fresh directory under ``probes.work_dir`` on the submit
host (a filesystem the compute nodes share), compute the run's bound (:mod:`bound`), submit and
follow the jobs (:mod:`follow`: exclusion, re-pairing, interrupts), fetch what they wrote over
SFTP (one archive per NCCL or ib_write_bw job), then :func:`evaluate` and :func:`write_reports`. Whatever happens to one job (refused,
timed out, node lost) is recorded and the rest goes on.
"""

from __future__ import annotations

import io
import secrets
import tarfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trainbed.errors import TrainbedError
from trainbed.inventory.model import Inventory
from trainbed.probes import facts as node_facts
from trainbed.probes import replan
from trainbed.probes.bound import Budget, run_bound
from trainbed.probes.controller import (
    BEFORE_SUBMITTING,
    WAIT_BUDGET_S,
    ControllerGuard,
    lost_in_takeover,
)
from trainbed.probes.evaluate import IbOutput, NcclOutput, evaluate, schedule_for
from trainbed.probes.follow import REJECTED, Campaign, limit_s
from trainbed.probes.interrupt import SignalGuard, no_guard
from trainbed.probes.jobs import NOT_MEASURED, Job
from trainbed.probes.nodes import node_health, unusable
from trainbed.probes.replan import Excluded, NotMeasured
from trainbed.probes.report import write_reports
from trainbed.probes.results import Coverage
from trainbed.probes.scripts import (
    ARCHIVE_DIR,
    FACTS_DIR,
    FACTS_SCRIPT,
    JobSpec,
    facts_script,
    suite_jobs,
)
from trainbed.probes.slurm import Slurm
from trainbed.probes.storage import OUTPUT_DIR as STORAGE_OUTPUTS
from trainbed.probes.storage import checkpoint_directory, judge_storage, output_paths
from trainbed.probes.training import judge_training
from trainbed.probes.watch import Progress
from trainbed.remote import SshRemote, SubmitHost

__all__ = ["REJECTED", "ProbeRunError", "RunOutcome", "connect", "run_suite"]


class ProbeRunError(TrainbedError):
    """The suite could not be run at all (no connection, no work directory)."""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What one run produced: the results document, the report files, where the jobs worked."""

    results: dict[str, Any]
    paths: dict[str, Path]
    jobs: tuple[Job, ...]
    remote_dir: str
    interrupted: int | None = None  # the signal that interrupted the run
    could_not_run: bool = False  # nothing measured: no controller was in control

    @property
    def exit_status(self) -> int:
        """0 passed, 1 failed, 2 nothing measured (no controller in control), 128 + the signal
        when interrupted (130 SIGINT, 143 SIGTERM)."""
        if self.interrupted is not None:
            return 128 + self.interrupted
        if self.could_not_run:
            return 2
        return 0 if self.results["passed"] else 1

    @property
    def submitted(self) -> int:
        """Slurm jobs that sbatch accepted."""
        return sum(j.job_id is not None for j in self.jobs)


def connect(inventory: Inventory) -> SshRemote:
    """An SSH connection to the inventory's submit host, its host key verified."""
    node = inventory.submit_host
    return SshRemote.connect(inventory, node.hostname, node.address)


def make_run_dir(remote: SubmitHost, work_dir: str, run_id: str) -> str:
    """Create ``work_dir/run_id`` on the submit host; its absolute path."""
    path = f"{work_dir.rstrip('/')}/{run_id}"
    done = remote.run("mkdir -p -- %s && cd -- %s && pwd", path, path)
    if not done.ok or not done.stdout.strip().startswith("/"):
        raise ProbeRunError(
            f"{remote.host}: cannot create the probe directory {path}: {done.stderr.strip()}"
        )
    return done.stdout.strip().splitlines()[-1]


def stage(remote: SubmitHost, inventory: Inventory, rundir: str, jobs: Sequence[JobSpec]) -> None:
    """Write every job's files and the facts script; create the output directories."""
    dirs = {f"{rundir}/{FACTS_DIR}", f"{rundir}/{ARCHIVE_DIR}"} | {
        f.client.rsplit("/", 1)[0] for job in jobs for f in job.ib_files
    }
    if any(job.suite == "storage" for job in jobs):
        dirs.add(f"{rundir}/{STORAGE_OUTPUTS}")
    done = remote.run("mkdir -p --" + " %s" * len(dirs), *sorted(dirs))
    if not done.ok:
        raise ProbeRunError(f"{remote.host}: cannot create {rundir}/…: {done.stderr.strip()}")
    remote.write_text(f"{rundir}/{FACTS_SCRIPT}", facts_script(inventory, rundir), 0o755)
    for job in jobs:
        for name, content in job.files.items():
            remote.write_text(f"{rundir}/{name}", content, 0o755)


def _text(remote: SubmitHost, path: str, raw: Path, rundir: str) -> str | None:
    """A remote output file, also kept under ``raw`` locally."""
    text = remote.read_text(path)
    if text is not None:
        _keep(raw, path.removeprefix(rundir + "/"), text.encode())
    return text


def _keep(raw: Path, relative: str, data: bytes) -> None:
    local = raw / relative
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(data)


def read_archive(data: bytes | None, path: str) -> tuple[dict[str, str] | None, str]:
    """A job's archive as member path → text, or None and why it cannot be read (missing,
    truncated, not a gzip tar). A partial archive counts as none: nothing in it is trusted."""
    if data is None:
        return None, f"{path}: no archive (the job's script did not write it)"
    members: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is not None:
                    members[member.name] = handle.read().decode(errors="replace")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        return None, f"{path}: partial or unreadable archive ({exc})"
    return members, ""


def could_not_run(job: Job, why: str) -> Job:
    """``job`` as not measured: it ran, but what it measured did not come back."""
    return replace(job, state=NOT_MEASURED, reason=f"could not run: {why}")


@dataclass(frozen=True, slots=True)
class Fetched:
    """What the jobs wrote: NCCL logs, ib_write_bw outputs, node facts, training logs by job,
    and the jobs again: one whose archive was lost or partial is now not measured."""

    nccl: list[NcclOutput]
    ib: list[IbOutput]
    facts: dict[str, str]
    training: dict[str, tuple[str | None, str | None]]  # job name → (log, job id)
    #: The storage job: node → output key → text (``storage.output_paths``), and its job id.
    storage: tuple[dict[str, dict[str, str | None]], str | None] | None = None
    jobs: list[Job] = field(default_factory=list)


def fetch(
    remote: SubmitHost,
    inventory: Inventory,
    rundir: str,
    specs: Sequence[JobSpec],
    jobs: Sequence[Job],
    raw: Path,
) -> Fetched:
    """Everything the jobs wrote: one archive per NCCL or ib_write_bw job (kept under
    ``raw/archives``; NCCL logs also unpacked into ``raw``), the training and storage files.

    A job that completed but whose archive is missing or partial is "could not run" (not
    measured): its measurements get no verdict and blame no node. One that did not complete
    keeps its state, which judges its measurements as before.
    """
    by_name = {(j.suite, j.name): j for j in jobs}
    nccl: list[NcclOutput] = []
    ib: list[IbOutput] = []
    facts: dict[str, str] = {}
    training: dict[str, tuple[str | None, str | None]] = {}
    storage = None
    lost: dict[int, Job] = {}
    prefix = rundir.rstrip("/") + "/"
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
        if spec.suite == "storage":
            if job.job_id:
                _text(remote, spec.log, raw, rundir)
            texts = {
                node: {
                    key: _text(remote, path, raw, rundir) if job.job_id else None
                    for key, path in output_paths(inventory, rundir, node).items()
                }
                for node in spec.nodes
            }
            storage = (texts, job.job_id)
            continue
        members: dict[str, str] = {}
        if job.job_id and spec.archive is not None:
            data = remote.read_bytes(spec.archive)
            if data is not None:
                _keep(raw, spec.archive.removeprefix(prefix), data)
            got, why = read_archive(data, spec.archive.removeprefix(prefix))
            if got is None and job.completed:
                lost[id(job)] = could_not_run(job, why)
            members = got or {}
        for node in spec.nodes:
            text = members.get(f"{FACTS_DIR}/{node}.txt")
            if text is not None:
                facts[node] = text
        printed = members.get(spec.log.removeprefix(prefix))
        if spec.suite == "nccl":
            if printed is not None:
                _keep(raw, spec.log.removeprefix(prefix), printed.encode())
            nccl.append(NcclOutput(spec.run_name, printed, ref))
            continue
        for f in spec.ib_files:
            parts = [members.get(p.removeprefix(prefix)) for p in (f.client, f.server)]
            lat_parts = [members.get(p.removeprefix(prefix)) for p in (f.lat_client, f.lat_server)]
            found = [p for p in parts if p is not None]
            lat = "\n".join(p for p in lat_parts if p is not None) if job.job_id else None
            ib.append(
                IbOutput(f.node_a, f.node_b, f.rail, "\n".join(found) if found else None, ref, lat)
            )
    return Fetched(nccl, ib, facts, training, storage, [lost.get(id(j), j) for j in jobs])


def plan_run(
    inventory: Inventory, slurm: Slurm, suites: Sequence[str], at_s: float = 0.0
) -> tuple[dict[str, Any], dict[str, Excluded], list[NotMeasured]]:
    """The schedule of the nodes Slurm can run jobs on now, the nodes excluded before the run
    with their state, and the measurements those nodes will not get."""
    full = schedule_for(inventory)
    names = [n.hostname for n in inventory.compute]
    listed = slurm.nodes(names)
    bad = unusable(node_health(listed, names)) if listed is not None else {}
    if not bad:
        return full, {}, []
    excluded = {n: Excluded(n, h.state, h.reason, at_s) for n, h in bad.items()}
    remaining = [n for n in names if n not in bad]
    schedule = replan.replacement(full["ib_write_bw"]["rails"], remaining, (), 0)
    lost = [
        NotMeasured(u, excluded[next(n for n in u.nodes if n in excluded)].why())
        for u in replan.units(full, suites)
        if set(u.nodes) & set(excluded)
    ]
    return schedule, excluded, lost


def run_suite(
    inventory: Inventory,
    remote: SubmitHost,
    out_dir: str | Path,
    *,
    suites: Sequence[str] = ("nccl", "ib_write_bw"),
    training: tuple[str, int] | None = None,
    progress: Progress = lambda _: None,
    poll_s: float = 2.0,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    guard: SignalGuard | None = None,
) -> RunOutcome:
    """Run the selected suites on the cluster behind ``remote``; write the reports to ``out_dir``.

    ``training`` (model, nodes) is the NeMo job of the training suite, when it is selected.
    The run ends within its bound (printed first, recorded in the results); with ``guard``
    installed, SIGINT/SIGTERM cancel the run's jobs and the partial results are written
    (``RunOutcome.interrupted`` says which signal).
    """
    clock = clock or time.monotonic
    started = datetime.now(UTC)
    start = clock()
    run_id = f"{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    controller = ControllerGuard(
        remote,
        [n.hostname for n in inventory.slurmctld_hosts],
        progress,
        clock,
        sleep or time.sleep,
    )
    slurm = Slurm(remote, on_error=controller.on_slurm_error)
    rundir = make_run_dir(remote, inventory.probes.work_dir, run_id)
    controller.check(BEFORE_SUBMITTING)  # before the node states: slurmctld answers for them
    schedule, excluded, lost = plan_run(inventory, slurm, suites)
    for item in excluded.values():
        progress(f"{item.node}: not measured: Slurm reports {item.state}; excluded before the run")
    specs = suite_jobs(inventory, schedule, suites, rundir, training)
    bound = run_bound((limit_s(s, inventory) for s in specs), controller_wait_s=int(WAIT_BUDGET_S))
    budget = Budget(bound, clock, start)
    progress(f"bound: {bound.describe()}")
    progress(f"staging {len(specs)} job(s) in {remote.host}:{rundir}")
    stage(remote, inventory, rundir, specs)
    campaign = Campaign(
        inventory,
        slurm,
        rundir,
        suites,
        schedule,
        list(specs),
        budget,
        lambda more: stage(remote, inventory, rundir, more),
        progress,
        poll_s,
        sleep or time.sleep,
        guard.hold if guard is not None else no_guard,
        excluded=dict(excluded),
        not_measured=list(lost),
        controller=controller,
    )
    campaign.run()
    jobs = [lost_in_takeover(j, controller) for j in campaign.all_jobs()]
    out = Path(out_dir)
    fetched = fetch(remote, inventory, rundir, campaign.specs, jobs, out / "raw")
    jobs = fetched.jobs
    verdicts = (
        []
        if training is None
        else [
            judge_training(inventory, *training, log, job) for log, job in fetched.training.values()
        ]
    )
    stored = None
    if fetched.storage is not None:
        texts, storage_job = fetched.storage
        stored = judge_storage(inventory, checkpoint_directory(inventory), texts, storage_job)
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
        schedule=campaign.schedule,
        training=verdicts,
        coverage=Coverage(
            bound=bound,
            elapsed_s=budget.elapsed(),
            excluded=list(campaign.excluded.values()),
            not_measured=campaign.not_measured,
            interrupted=campaign.interrupted.name if campaign.interrupted else None,
        ),
        extra_findings=controller.report.findings(measured=any(j.measured for j in jobs)),
        controller=controller.report.as_dict(),
        storage=stored,
    )
    paths = write_reports(results, out)
    signum = campaign.interrupted.signum if campaign.interrupted else None
    nothing = controller.lost and not any(j.measured for j in jobs)
    return RunOutcome(results, paths, tuple(jobs), rundir, signum, could_not_run=nothing)
