"""Follow submitted jobs to their end with squeue and sacct, one poll at a time.

Every job has its time limit (Slurm enforces it and ends the job as TIMEOUT). The watcher adds
its own bounds so that it never waits forever on a job Slurm does not end: a job still running
``GRACE_S`` after its limit is cancelled (the controller lost it, or the node hangs); a job
pending for a reason that will not clear by itself (:mod:`trainbed.probes.pending`: a node
down or drained, a partition down, a hold) is cancelled after ``STUCK_PENDING_S``. A job in
COMPLETING whose accounting record has ended is finished with that record: a node that never
confirms the job's end (slurmd gone) does not hold the run. The run (:mod:`trainbed.probes.run`)
drives the polls and owns the run's bound.

A job trainbed cancels for a reason that says nothing about the hardware (stuck pending, its
node excluded, the bound ran out, an interrupt) keeps that reason in ``Tracked.unmeasured``: its
measurements are reported "not measured", not judged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from trainbed.parse.slurm import JobStatus
from trainbed.probes.jobs import Job
from trainbed.probes.pending import classify
from trainbed.probes.slurm import Slurm

#: Slurm's KillWait and OverTimeLimit plus step cleanup: how long past its limit a job may run.
GRACE_S = 120.0
STUCK_PENDING_S = 60.0
#: Polls in a row a job may be missing from both squeue and sacct before it counts as lost.
MISSING_POLLS = 5


@dataclass(slots=True)
class Tracked:
    """A submitted job being followed."""

    job_id: str
    name: str
    suite: str
    nodes: tuple[str, ...]
    time_limit: str = ""
    time_limit_s: float = 0.0
    state: str = "PENDING"
    reason: str | None = None
    started_at: float | None = None
    stuck_since: float | None = None
    missing: int = 0
    running_on: str | None = None
    unmeasured: str | None = None
    cancelling: str | None = None  # why trainbed is cancelling it (its CANCELLED is ours)
    final: Job | None = field(default=None)


Progress = Callable[[str], None]


def _final_reason(status: JobStatus, time_limit: str) -> str | None:
    state = status.state
    if state == "COMPLETED":
        return None
    if state == "TIMEOUT":
        return f"exceeded its time limit ({time_limit}); Slurm ended it"
    if state == "NODE_FAIL":
        return f"a node of the job failed ({status.nodes or 'nodes unknown'})"
    if state == "FAILED":
        code = f"exit code {status.exit_code}" if status.exit_code else status.reason
        return f"the job failed ({code or 'non-zero exit'})"
    if state == "CANCELLED":
        return "cancelled outside trainbed"
    return status.reason or state.lower().replace("_", " ")


class Watcher:
    """Polls squeue (and sacct for ended or completing jobs) and finishes jobs as they end."""

    def __init__(
        self,
        slurm: Slurm,
        progress: Progress = lambda _: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slurm = slurm
        self.progress = progress
        self.clock = clock

    def poll(self, active: Sequence[Tracked]) -> None:
        """One look at ``active`` jobs: finish those that ended, give up on those that will not."""
        now = self.clock()
        queue = self.slurm.queue([j.job_id for j in active])
        if queue is None:
            return  # squeue failed this time (controller busy): try again next poll
        ask = [
            j
            for j in active
            if j.job_id not in queue
            or queue[j.job_id].terminal
            or queue[j.job_id].state == "COMPLETING"
        ]
        accounted = self.slurm.accounting([j.job_id for j in ask]) if ask else {}
        for job in active:
            record = accounted.get(job.job_id)
            status = record if record and record.terminal else queue.get(job.job_id) or record
            if status is None:
                job.missing += 1
                if job.missing >= MISSING_POLLS:
                    self.finish(job, "UNKNOWN", "vanished from squeue and sacct", None)
                continue
            job.missing = 0
            if status.terminal and status.state == "CANCELLED" and job.cancelling:
                why = job.cancelling
                self.abandon(job, "CANCELLED", f"{why}; cancelled by trainbed", why)
                continue
            if status.terminal:
                reason = _final_reason(status, job.time_limit)
                self.finish(job, status.state, reason, status.elapsed_s)
                continue
            self._follow(job, status, now)

    def _follow(self, job: Tracked, status: JobStatus, now: float) -> None:
        if status.state != job.state:
            where = f" on {status.nodes}" if status.nodes and status.state == "RUNNING" else ""
            why = f" ({status.reason})" if status.reason and status.state == "PENDING" else ""
            self.progress(f"{job.name}: job {job.job_id} {status.state}{where}{why}")
            job.state = status.state
        job.reason = status.reason
        if status.state in ("RUNNING", "COMPLETING"):
            job.running_on = status.nodes or job.running_on
            if job.started_at is None:
                # squeue's elapsed time dates the start even if we polled late.
                job.started_at = now - (status.elapsed_s or 0.0)
        if job.started_at is not None and now - job.started_at > job.time_limit_s + GRACE_S:
            self.give_up(
                job,
                "TIMEOUT",
                f"still {status.state} {GRACE_S:g} s after its time limit ({job.time_limit}); "
                "cancelled by trainbed",
            )
            return
        pending = classify(status.reason) if status.state == "PENDING" else None
        if pending is not None and pending.stuck:
            job.stuck_since = job.stuck_since if job.stuck_since is not None else now
            if now - job.stuck_since >= STUCK_PENDING_S:
                why = f"could not start: pending with reason {pending.describe()}"
                self.give_up(
                    job,
                    "CANCELLED",
                    f"{why} for {STUCK_PENDING_S:g} s; cancelled by trainbed",
                    unmeasured=why,
                )
        else:
            job.stuck_since = None

    def give_up(self, job: Tracked, state: str, reason: str, unmeasured: str | None = None) -> None:
        """Cancel ``job`` and finish it; ``unmeasured`` says why its measurements were not taken."""
        self.slurm.cancel(job.job_id)
        self.abandon(job, state, reason, unmeasured)

    def abandon(self, job: Tracked, state: str, reason: str, unmeasured: str | None = None) -> None:
        """Finish ``job`` without cancelling it (the caller did, with others at once)."""
        job.unmeasured = unmeasured
        self.finish(job, state, reason, None)

    def finish(self, job: Tracked, state: str, reason: str | None, elapsed_s: float | None) -> None:
        job.final = Job(job.job_id, job.name, job.suite, job.nodes, state, reason, elapsed_s)
        tail = f": {reason}" if reason else ""
        took = f" in {elapsed_s:g} s" if elapsed_s is not None else ""
        self.progress(f"{job.name}: job {job.job_id} {state}{took}{tail}")
