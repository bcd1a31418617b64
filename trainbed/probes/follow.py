"""Submit the suite's jobs and follow them to a verdict within the run's bound.

One loop, bounded by the :class:`~trainbed.probes.bound.Budget`: poll the jobs
(:class:`~trainbed.probes.watch.Watcher`), and every ``NODE_POLL_S`` read the nodes' Slurm
states. A node that turns unusable (down, drained, not responding) is excluded: the run's jobs
that need it are cancelled (one ``scancel`` of their ids), its measurements not taken yet are
"not measured" with its state and reason, and its partners' measurements are re-planned with the
remaining nodes (:mod:`trainbed.probes.replan`) when they still fit in the bound. At the watch
deadline whatever is left is cancelled. On :class:`~trainbed.probes.interrupt.Interrupted`
every job not known to have ended is cancelled by id, what ended is recorded, and the rest is
"not measured" (the run is incomplete).

With a :class:`~trainbed.probes.controller.ControllerGuard`, an sbatch that fails with a
controller error asks the controller at once (waiting, bounded, for a backup) and is tried once
more; once no controller is in control nothing more is submitted and every job not measured yet
is "not measured (controller)", never a fault of its nodes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from trainbed.hostlist import expand_hostlist
from trainbed.inventory.model import Inventory
from trainbed.probes import replan
from trainbed.probes.bound import JOB_MARGIN_S, Budget
from trainbed.probes.controller import (
    ControllerGuard,
    ControllerLost,
    is_controller_error,
    not_measured,
)
from trainbed.probes.interrupt import Interrupted, no_guard
from trainbed.probes.jobs import Job
from trainbed.probes.nodes import node_health, unusable
from trainbed.probes.replan import Excluded, NotMeasured, Unit
from trainbed.probes.scripts import JobSpec, suite_jobs
from trainbed.probes.slurm import Slurm, Submitted, time_limit_seconds
from trainbed.probes.watch import Progress, Tracked, Watcher

REJECTED = "REJECTED"
NOT_SUBMITTED = "NOT_SUBMITTED"
#: How often node states are read while jobs run.
NODE_POLL_S = 10.0
#: After an interrupt's scancel: how long to wait for squeue to show none of the jobs queued.
CANCEL_CHECK_S = 10.0
#: A Slurm command's timeout while following jobs (never past the watch deadline), and while
#: ending the run: at most six such commands and CANCEL_CHECK_S fit in FINISH_RESERVE_S.
SLURM_TIMEOUT_S = 60.0
FINISH_TIMEOUT_S = 15.0

Stage = Callable[[Sequence[JobSpec]], None]


def spec_units(spec: JobSpec) -> list[Unit]:
    """The measurements one job covers (none for the training job)."""
    if spec.suite == "nccl":
        return [Unit("nccl", spec.run_name, spec.nodes)]
    if spec.suite == "ib_write_bw":
        pairs = dict.fromkeys((f.node_a, f.node_b) for f in spec.ib_files)
        return [replan.pair_unit(a, b) for a, b in pairs]
    return []


def limit_s(spec: JobSpec, inventory: Inventory) -> int:
    return time_limit_seconds(spec.time_limit or inventory.probes.job_time_limit)


@dataclass
class Campaign:
    """The run's jobs from submission to their end; what it could not measure, and why."""

    inventory: Inventory
    slurm: Slurm
    rundir: str
    suites: Sequence[str]
    schedule: dict[str, Any]
    specs: list[JobSpec]
    budget: Budget
    stage: Stage
    progress: Progress = lambda _: None
    poll_s: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    hold: Callable[[], AbstractContextManager[None]] = no_guard
    excluded: dict[str, Excluded] = field(default_factory=dict)
    not_measured: list[NotMeasured] = field(default_factory=list)
    tracked: dict[str, Tracked] = field(default_factory=dict)  # by spec run name
    jobs: dict[str, Job] = field(default_factory=dict)  # REJECTED / NOT_SUBMITTED by run name
    interrupted: Interrupted | None = None
    generation: int = 0
    settled: set[str] = field(default_factory=set)  # jobs whose units an exclusion accounted
    controller: ControllerGuard | None = None
    #: Re-plan an excluded node's partners with other nodes (quick mode's next round does it).
    repair: bool = True

    def __post_init__(self) -> None:
        self.watcher = Watcher(self.slurm, self.progress, self.budget.clock)
        self.remaining = [
            n.hostname for n in self.inventory.compute if n.hostname not in self.excluded
        ]

    # ------------------------------------------------------------------ the loop

    def run(self) -> None:
        """Submit every job and follow them; returns at the end, the deadline or an interrupt.

        Either way it ends with :meth:`sweep`: no job of the run stays queued.
        """
        try:
            self.submit(self.specs)
            self.follow()
        except ControllerLost as lost:
            self.controller_lost(str(lost))
        except Interrupted as signal:
            self.interrupted = signal
            self.progress(f"interrupted by {signal.name}: cancelling the run's jobs")
            try:
                self.cancel_all(f"the run was interrupted ({signal.name}) before it ended")
            except ControllerLost as lost:
                self.controller_lost(str(lost))
        try:
            if self.controller is None or not self.controller.lost:
                self.sweep()
        except ControllerLost as lost:
            self.controller_lost(str(lost))
        except Interrupted as signal:  # it came during the sweep, which finished first
            self.interrupted = self.interrupted or signal
        self.account()

    def controller_lost(self, why: str) -> None:
        """No controller in control: jobs not known to have ended are not measured (controller);
        they cannot be cancelled (nothing answers scancel) and may still run later."""
        for job in self.active():
            job.final = not_measured(
                job.name,
                job.suite,
                job.nodes,
                f"{why}; job {job.job_id} may still run later",
                job.job_id,
            )

    def sweep(self) -> None:
        """scancel the run's jobs Slurm still queues although they ended for us.

        Slurm requeues a batch job whose node failed at launch even with ``--no-requeue``
        (``Restarts=1``, pending on ``BeginTime``): without this it would start when the node
        comes back.
        """
        ids = [t.job_id for t in self.tracked.values()]
        if not ids:
            return
        self.slurm.timeout = FINISH_TIMEOUT_S
        with self.hold():
            queue = self.slurm.queue(ids) or {}
            queued = [i for i, s in queue.items() if not s.terminal and s.state != "COMPLETING"]
            if queued:
                self.slurm.cancel(*queued)
                self.progress(f"cancelled job(s) {', '.join(queued)}: Slurm had requeued them")

    def submit(self, specs: Sequence[JobSpec]) -> None:
        """sbatch each job (an interrupt waits for sbatch's answer, so no job id is lost).

        A controller error asks the controller (outside that wait) and tries once more.
        """
        for spec in specs:
            label = f"{spec.suite} {spec.run_name}"
            if not self.budget.fits(limit_s(spec, self.inventory) + JOB_MARGIN_S):
                why = f"the run's bound ({self.budget.bound.seconds} s) left no time to run it"
                self.progress(f"{label}: not submitted: {why}")
                self.jobs[spec.run_name] = self._unsubmitted(spec, why)
                continue
            if self.controller is not None and self.controller.lost:
                why = self.controller.report.lost or "no controller in control"
                self.jobs[spec.run_name] = not_measured(spec.run_name, spec.suite, spec.nodes, why)
                continue
            answer = self._sbatch(spec)
            if (
                self.controller is not None
                and answer is not None
                and is_controller_error(answer.error)
            ):
                self.progress(f"{label}: sbatch failed: {answer.error}; asking the controller")
                if self.controller.check(f"sbatch {spec.run_name}: {answer.error}"):
                    answer = self._sbatch(spec)
                if answer is not None and is_controller_error(answer.error):
                    why = self.controller.report.lost or f"sbatch: {answer.error}"
                    self.progress(f"{label}: not measured (controller): {why}")
                    self.jobs[spec.run_name] = not_measured(
                        spec.run_name, spec.suite, spec.nodes, why
                    )
                    continue
            if answer is not None:
                self.progress(f"{label}: sbatch refused the job: {answer.error}")
                self.jobs[spec.run_name] = Job(
                    None, spec.run_name, spec.suite, spec.nodes, REJECTED, answer.error
                )
                continue
            job_id = self.tracked[spec.run_name].job_id
            self.progress(f"{label}: submitted as job {job_id} on {','.join(spec.nodes)}")

    def _sbatch(self, spec: JobSpec) -> Submitted | None:
        """sbatch ``spec`` and track it; None when accepted, else sbatch's refusal."""
        with self.hold():
            answer = self.slurm.submit(spec.script, self.rundir)
            if answer.job_id is None:
                return answer
            self.tracked[spec.run_name] = Tracked(
                answer.job_id,
                spec.run_name,
                spec.suite,
                spec.nodes,
                spec.time_limit or self.inventory.probes.job_time_limit,
                limit_s(spec, self.inventory),
            )
        return None

    def _unsubmitted(self, spec: JobSpec, why: str) -> Job:
        job = Job(None, spec.run_name, spec.suite, spec.nodes, NOT_SUBMITTED, why)
        self.not_measured += [NotMeasured(u, why) for u in spec_units(spec)]
        return job

    def active(self) -> list[Tracked]:
        return [t for t in self.tracked.values() if t.final is None]

    def follow(self) -> None:
        """Poll until every job has ended, bounded by the watch deadline (and a poll count).

        Node states are read every :data:`NODE_POLL_S`, at once when a job ends other than
        COMPLETED (was it its node?), and once more before the verdict.
        """
        clock = self.budget.clock
        last_nodes = clock()
        checked_idle = -1  # how many jobs there were at the last look before the verdict
        max_polls = int(max(self.budget.watch_left(), 0) / self.poll_s) + 2
        for _ in range(max_polls):
            if not self.active():
                failed = any(t.final and not t.final.completed for t in self.tracked.values())
                if not failed or checked_idle == len(self.tracked):
                    return
                checked_idle = len(self.tracked)
                self.check_nodes()  # one more look before failures are judged as hardware
                continue
            if clock() >= self.budget.watch_deadline:
                break
            before = self.active()
            self.slurm.timeout = self.budget.timeout(SLURM_TIMEOUT_S)
            self.watcher.poll(before)
            failed = any(t.final is not None and not t.final.completed for t in before)
            if failed or clock() - last_nodes >= NODE_POLL_S:
                last_nodes = clock()
                self.check_nodes()
            if self.active():
                self.sleep(self.poll_s)
        self.cancel_all(f"the run's bound ({self.budget.bound.seconds} s) ran out before it ended")

    def cancel_all(self, why: str) -> None:
        """scancel every job not known to have ended (by id), then record how each ended."""
        active = self.active()
        if not active:
            return
        self.slurm.timeout = FINISH_TIMEOUT_S
        with self.hold():
            for job in active:
                job.cancelling = why
            self.slurm.cancel(*(t.job_id for t in active))
            self._wait_dequeued([t.job_id for t in active])
            self.watcher.poll(active)  # what ended meanwhile keeps its own state
            for job in self.active():
                self.watcher.abandon(job, "CANCELLED", f"{why}; cancelled by trainbed", why)

    def _wait_dequeued(self, job_ids: list[str]) -> None:
        """Poll squeue (bounded) until none of ``job_ids`` is pending or running."""
        clock = self.budget.clock
        until = clock() + CANCEL_CHECK_S
        for _ in range(int(CANCEL_CHECK_S) + 1):
            queue = self.slurm.queue(job_ids)
            if queue is not None and all(
                s.terminal or s.state == "COMPLETING" for s in queue.values()
            ):
                return
            if clock() >= until:
                return
            self.sleep(1.0)

    # ------------------------------------------------------------------ exclusion

    def read_nodes(self) -> dict[str, Any] | None:
        """Unusable nodes among the remaining ones (None when scontrol did not answer)."""
        listed = self.slurm.nodes(self.remaining)
        if listed is None:
            return None
        return unusable(node_health(listed, self.remaining))

    def check_nodes(self) -> None:
        self.slurm.timeout = self.budget.timeout(SLURM_TIMEOUT_S)
        bad = self.read_nodes()
        if bad:
            self.exclude(bad)

    def exclude(self, bad: dict[str, Any]) -> None:
        """Take ``bad`` nodes out of the rest of the run and re-plan their partners' measurements."""
        at = self.budget.elapsed()
        for name, state in bad.items():
            self.excluded[name] = Excluded(name, state.state, state.reason, at)
            self.progress(
                f"{name}: not measured from here on: Slurm reports {state.describe()}; "
                "excluded from the rest of the suite"
            )
        self.remaining = [n for n in self.remaining if n not in bad]
        hit = [t for t in self.tracked.values() if self._needs(t, set(bad)) and self._lost(t)]
        if hit:  # ended ones too: Slurm may requeue a job whose node failed at launch
            self.slurm.cancel(*(t.job_id for t in hit))
        for job in hit:
            self.settled.add(job.name)
            node = next((n for n in job.nodes if n in bad), next(iter(bad)))
            why = f"{self.excluded[node].why()}; excluded"
            if job.final is None:
                self.watcher.abandon(job, "CANCELLED", f"{why}; cancelled by trainbed", why)
            else:
                job.unmeasured = why
        lost = [u for t in hit for u in self._spec_units(t.name)]
        for unit in lost:
            gone = [n for n in unit.nodes if n in self.excluded]
            if gone:
                self.not_measured.append(NotMeasured(unit, self.excluded[gone[0]].why()))
        self.schedule = replan.without(self.schedule, lost)
        if self.repair:
            self.replan()

    def _needs(self, job: Tracked, bad: set[str]) -> bool:
        """Whether ``job`` needs one of the ``bad`` nodes. The training job asks for any nodes
        of the partition: it needs them when it runs on one, or when too few remain."""
        if job.suite != "training":
            return bool(set(job.nodes) & bad)
        if job.running_on:
            return bool(set(expand_hostlist(job.running_on)) & bad)
        return len(job.nodes) > len(self.remaining)

    def _lost(self, job: Tracked) -> bool:
        """A job whose measurements an exclusion takes: not ended, or ended other than COMPLETED."""
        if job.unmeasured is not None:
            return False
        return job.final is None or not job.final.completed

    def _spec_units(self, run_name: str) -> list[Unit]:
        spec = next(s for s in self.specs if s.run_name == run_name)
        return spec_units(spec)

    def replan(self) -> None:
        """Submit what the remaining nodes still need, where it fits in the bound."""
        self.generation += 1
        covered = [u.key for u in replan.units(self.schedule, self.suites)]
        extra = replan.replacement(
            self.schedule["ib_write_bw"]["rails"], self.remaining, covered, self.generation
        )
        if "nccl" not in self.suites:
            extra["nccl"] = []
        if "ib_write_bw" not in self.suites:
            extra["ib_write_bw"]["rounds"] = []
        if replan.is_empty(extra):
            return
        first = len(self.schedule["ib_write_bw"]["rounds"]) + 1
        probe_suites = [s for s in self.suites if s not in ("training", "storage")]
        specs = suite_jobs(self.inventory, extra, probe_suites, self.rundir, None, first)
        fits = [s for s in specs if self.budget.fits(limit_s(s, self.inventory) + JOB_MARGIN_S)]
        late = [u for s in specs if s not in fits for u in spec_units(s)]
        why = "re-planned with other partners, but the run's bound left no time to run it"
        self.not_measured += [NotMeasured(u, why) for u in late]
        self.schedule = replan.extend(self.schedule, replan.without(extra, late))
        if not fits:
            return
        names = ", ".join(f"{s.suite} {s.run_name} on {','.join(s.nodes)}" for s in fits)
        self.progress(f"re-planned without {', '.join(self.excluded)}: {names}")
        self.stage(fits)
        self.specs += fits
        self.submit(fits)

    # ------------------------------------------------------------------ the account

    def account(self) -> None:
        """Measurements of jobs cancelled for reasons that say nothing about the hardware, and of
        jobs never submitted, leave the schedule and become "not measured"."""
        why_unsent = (
            f"the run was interrupted ({self.interrupted.name}) before it was submitted"
            if self.interrupted
            else "the run ended before it was submitted"
        )
        for spec in self.specs:
            if spec.run_name not in self.tracked and spec.run_name not in self.jobs:
                self.jobs[spec.run_name] = self._unsubmitted(spec, why_unsent)
        listed = {n.unit.key for n in self.not_measured}
        for job in self.tracked.values():
            if job.unmeasured is None or job.name in self.settled:
                continue
            for unit in self._spec_units(job.name):
                if unit.key not in listed:
                    self.not_measured.append(NotMeasured(unit, job.unmeasured))
                    listed.add(unit.key)
        self.schedule = replan.without(self.schedule, [n.unit for n in self.not_measured])

    def all_jobs(self) -> list[Job]:
        """One job per spec, in submission order (after :meth:`account`)."""
        found: list[Job] = []
        for spec in self.specs:
            tracked = self.tracked.get(spec.run_name)
            if tracked is not None and tracked.final is not None:
                found.append(tracked.final)
            elif spec.run_name in self.jobs:
                found.append(self.jobs[spec.run_name])
        return found
