"""Follow submitted jobs to their end with squeue and sacct, bounded in time.

Every job gets the inventory's ``probes.job_time_limit`` (Slurm enforces it and ends the job as
TIMEOUT). The watcher adds its own bounds so that it never waits forever on a job Slurm does not
end: a job still running ``GRACE_S`` after its limit is cancelled (the controller lost it, or the
node hangs); a job pending for a reason that will not clear by itself (a node down or drained, a
partition down) is cancelled after ``STUCK_PENDING_S``; and the whole watch ends at a deadline of
every job run back to back, which no schedule can exceed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from trainbed.probes.jobs import Job
from trainbed.probes.slurm import STUCK_REASONS, JobStatus, Slurm

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
    state: str = "PENDING"
    reason: str | None = None
    started_at: float | None = None
    stuck_since: float | None = None
    missing: int = 0
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
    """Polls squeue (and sacct for finished jobs) until every job has ended or been given up."""

    def __init__(
        self,
        slurm: Slurm,
        time_limit: str,
        time_limit_s: float,
        progress: Progress = lambda _: None,
        poll_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.slurm = slurm
        self.time_limit = time_limit
        self.time_limit_s = time_limit_s
        self.progress = progress
        self.poll_s = poll_s
        self.clock = clock
        self.sleep = sleep

    def watch(self, jobs: Sequence[Tracked]) -> list[Job]:
        """Follow ``jobs`` to their end; one :class:`Job` per tracked job, in the given order."""
        start = self.clock()
        per_job = self.time_limit_s + GRACE_S
        deadline = start + len(jobs) * per_job + STUCK_PENDING_S
        max_polls = int((deadline - start) / self.poll_s) + 2
        for _ in range(max_polls):
            active = [j for j in jobs if j.final is None]
            if not active:
                break
            if self.clock() >= deadline:
                for job in active:
                    self._give_up(job, "CANCELLED", "the suite's deadline passed before it ended")
                break
            self._poll(active)
            if any(j.final is None for j in jobs):
                self.sleep(self.poll_s)
        for job in jobs:
            if job.final is None:  # only if the clock stood still for max_polls polls
                self._give_up(job, "CANCELLED", "not followed to its end")
        return [j.final for j in jobs if j.final is not None]

    def _poll(self, active: Sequence[Tracked]) -> None:
        now = self.clock()
        queue = self.slurm.queue([j.job_id for j in active])
        if queue is None:
            return  # squeue failed this time (controller busy): try again next poll
        gone = [j for j in active if j.job_id not in queue or queue[j.job_id].terminal]
        accounted = self.slurm.accounting([j.job_id for j in gone]) if gone else {}
        for job in active:
            status = accounted.get(job.job_id) or queue.get(job.job_id)
            if status is None:
                job.missing += 1
                if job.missing >= MISSING_POLLS:
                    self._finish(job, "UNKNOWN", "vanished from squeue and sacct", None)
                continue
            job.missing = 0
            if status.terminal:
                reason = _final_reason(status, self.time_limit)
                self._finish(job, status.state, reason, status.elapsed_s)
                continue
            self._follow(job, status, now)

    def _follow(self, job: Tracked, status: JobStatus, now: float) -> None:
        if status.state != job.state:
            where = f" on {status.nodes}" if status.nodes and status.state == "RUNNING" else ""
            why = f" ({status.reason})" if status.reason and status.state == "PENDING" else ""
            self.progress(f"{job.name}: job {job.job_id} {status.state}{where}{why}")
            job.state = status.state
        if status.state in ("RUNNING", "COMPLETING") and job.started_at is None:
            # squeue's elapsed time dates the start even if we polled late.
            job.started_at = now - (status.elapsed_s or 0.0)
        if job.started_at is not None and now - job.started_at > self.time_limit_s + GRACE_S:
            self._give_up(
                job,
                "TIMEOUT",
                f"still {status.state} {GRACE_S:g} s after its time limit ({self.time_limit}); "
                "cancelled by trainbed",
            )
            return
        reason = (status.reason or "").split(",")[0]
        if status.state == "PENDING" and reason in STUCK_REASONS:
            job.stuck_since = job.stuck_since if job.stuck_since is not None else now
            if now - job.stuck_since >= STUCK_PENDING_S:
                self._give_up(
                    job,
                    "CANCELLED",
                    f"could not start: pending with reason {status.reason} for "
                    f"{STUCK_PENDING_S:g} s; cancelled by trainbed",
                )
        else:
            job.stuck_since = None

    def _give_up(self, job: Tracked, state: str, reason: str) -> None:
        self.slurm.cancel(job.job_id)
        self._finish(job, state, reason, None)

    def _finish(
        self, job: Tracked, state: str, reason: str | None, elapsed_s: float | None
    ) -> None:
        job.final = Job(job.job_id, job.name, job.suite, job.nodes, state, reason, elapsed_s)
        tail = f": {reason}" if reason else ""
        took = f" in {elapsed_s:g} s" if elapsed_s is not None else ""
        self.progress(f"{job.name}: job {job.job_id} {state}{took}{tail}")
