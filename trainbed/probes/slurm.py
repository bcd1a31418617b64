"""Slurm's job commands over a :class:`~trainbed.remote.SubmitHost`: sbatch, squeue, sacct, scancel.

Only command lines live here: their output is parsed by :mod:`trainbed.parse.slurm`, and what to
do with a job's state is :mod:`watch`'s business.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from trainbed.hostlist import compress_hostlist
from trainbed.parse.slurm import (
    SACCT_FIELDS,
    SQUEUE_FORMAT,
    JobStatus,
    SlurmNode,
    parse_sacct,
    parse_scontrol_show_node,
    parse_squeue,
    sbatch_job_id,
)
from trainbed.remote import Completed, SubmitHost

#: Called with the command's name and its result when squeue fails (other than for purged
#: jobs); it may raise to stop the caller (see :class:`trainbed.probes.controller.ControllerGuard`).
ErrorHook = Callable[[str, Completed], None]


def time_limit_seconds(limit: str) -> int:
    """An ``sbatch --time`` value in seconds: ``M``, ``M:S``, ``H:M:S``, ``D-H[:M[:S]]``."""
    days, _, rest = limit.partition("-") if "-" in limit else ("0", "", limit)
    parts = [int(p) for p in rest.split(":")]
    if "-" in limit:
        h, m, s = [*parts, 0, 0][:3]
    elif len(parts) == 1:
        h, m, s = 0, parts[0], 0
    elif len(parts) == 2:
        h, m, s = 0, parts[0], parts[1]
    else:
        h, m, s = parts[:3]
    return ((int(days) * 24 + h) * 60 + m) * 60 + s


@dataclass(frozen=True, slots=True)
class Submitted:
    """What ``sbatch --parsable`` answered: a job id, or the refusal."""

    job_id: str | None
    error: str | None = None


class Slurm:
    """Slurm's client commands, run on the submit host."""

    def __init__(
        self, remote: SubmitHost, timeout: float = 60.0, on_error: ErrorHook | None = None
    ) -> None:
        self.remote = remote
        self.timeout = timeout
        self.on_error = on_error

    def submit(self, script: str, workdir: str) -> Submitted:
        """``sbatch --parsable SCRIPT`` from ``workdir``.

        sbatch is killed on the submit host a little before ``timeout``: one left blocking in
        Slurm's retry loop (no controller in control) would otherwise submit the job later,
        behind the run's back.
        """
        limit = max(1, int(self.timeout) - 5)
        done = self.remote.run(
            "cd %s && timeout -s KILL %s sbatch --parsable %s",
            workdir,
            limit,
            script,
            timeout=self.timeout,
        )
        job_id = sbatch_job_id(done.stdout)
        if done.ok and job_id:
            return Submitted(job_id)
        if done.returncode in (None, 137) and not done.stderr.strip():
            return Submitted(None, f"timed out after {limit} s")
        message = (done.stderr or done.stdout).strip() or f"sbatch exited {done.returncode}"
        return Submitted(None, message.splitlines()[-1].removeprefix("sbatch: error: "))

    def queue(self, job_ids: Sequence[str]) -> dict[str, JobStatus] | None:
        """squeue's view of ``job_ids`` (recently finished ones included); None when it failed."""
        if not job_ids:
            return {}
        done = self.remote.run(
            "squeue -h -t all -o %s -j %s", SQUEUE_FORMAT, ",".join(job_ids), timeout=self.timeout
        )
        if not done.ok:
            # squeue refuses a list whose jobs have all been purged: none of them is queued.
            if "Invalid job id" in done.stderr:
                return {}
            if self.on_error is not None:
                self.on_error("squeue", done)
            return None
        return parse_squeue(done.stdout)

    def accounting(self, job_ids: Iterable[str]) -> dict[str, JobStatus]:
        """sacct's record of ``job_ids`` (empty when accounting is off or not yet written)."""
        ids = list(job_ids)
        if not ids:
            return {}
        done = self.remote.run(
            "sacct -n -P -X -o %s -j %s", SACCT_FIELDS, ",".join(ids), timeout=self.timeout
        )
        return parse_sacct(done.stdout) if done.ok else {}

    def cancel(self, *job_ids: str) -> bool:
        """``scancel`` exactly ``job_ids`` (one command); True when scancel succeeded."""
        if not job_ids:
            return True
        return self.remote.run("scancel" + " %s" * len(job_ids), *job_ids, timeout=self.timeout).ok

    def nodes(self, hostnames: Sequence[str]) -> list[SlurmNode] | None:
        """``scontrol show node`` of ``hostnames``; None when scontrol did not answer.

        scontrol lists the nodes it knows and exits non-zero when one is unknown: the nodes
        it did print still count.
        """
        if not hostnames:
            return []
        done = self.remote.run(
            "scontrol show node %s", compress_hostlist(hostnames), timeout=self.timeout
        )
        nodes = parse_scontrol_show_node(done.stdout)
        if not done.ok and not nodes and "not found" not in done.stderr:
            return None
        return nodes
