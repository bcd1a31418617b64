"""Slurm's job commands over a :class:`~trainbed.probes.remote.Remote`: sbatch, squeue, sacct, scancel.

Only parsing and command lines live here; what to do with a job's state is :mod:`watch`'s business.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from trainbed.parse.slurm import SlurmNode, compress_hostlist, parse_scontrol_show_node
from trainbed.probes.remote import Completed, Remote

#: Called with the command's name and its result when squeue fails (other than for purged
#: jobs); it may raise to stop the caller (see :class:`trainbed.probes.controller.ControllerGuard`).
ErrorHook = Callable[[str, Completed], None]

#: Job states after which a job will not change again (squeue ``-t all`` / sacct).
TERMINAL_STATES = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "TIMEOUT",
        "NODE_FAIL",
        "CANCELLED",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
        "REVOKED",
        "SPECIAL_EXIT",
    }
)

_SQUEUE_FORMAT = "%i|%T|%r|%M|%N"
_SACCT_FIELDS = "JobIDRaw,State,ExitCode,ElapsedRaw,NodeList"


def base_state(state: str) -> str:
    """``CANCELLED by 0`` → ``CANCELLED``; ``RUNNING+`` → ``RUNNING``."""
    word = state.strip().split(" ")[0] if state.strip() else "UNKNOWN"
    return word.rstrip("+*").upper()


def duration_seconds(text: str) -> float | None:
    """Slurm's elapsed-time format (``[D-][HH:]MM:SS``) in seconds; None when unreadable."""
    m = re.fullmatch(r"\s*(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)(?:\.\d+)?\s*", text)
    if not m:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


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


@dataclass(frozen=True, slots=True)
class JobStatus:
    """One job as squeue or sacct shows it."""

    job_id: str
    state: str
    reason: str | None = None
    elapsed_s: float | None = None
    nodes: str | None = None
    exit_code: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


def parse_squeue(text: str) -> dict[str, JobStatus]:
    """``squeue -h -o '%i|%T|%r|%M|%N'`` lines by job id."""
    jobs: dict[str, JobStatus] = {}
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) < 5 or not fields[0]:
            continue
        job_id, state, reason, elapsed, nodes = fields[:5]
        jobs[job_id] = JobStatus(
            job_id,
            base_state(state),
            None if reason in ("", "None", "(null)") else reason,
            duration_seconds(elapsed),
            nodes or None,
        )
    return jobs


def parse_sacct(text: str) -> dict[str, JobStatus]:
    """``sacct -n -P -X -o JobIDRaw,State,ExitCode,ElapsedRaw,NodeList`` lines by job id."""
    jobs: dict[str, JobStatus] = {}
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) < 5 or not fields[0].isdigit():
            continue
        job_id, state, exit_code, elapsed, nodes = fields[:5]
        jobs[job_id] = JobStatus(
            job_id,
            base_state(state),
            None,
            float(elapsed) if elapsed.isdigit() else None,
            None if nodes in ("", "None assigned") else nodes,
            exit_code or None,
        )
    return jobs


class Slurm:
    """Slurm's client commands, run on the submit host."""

    def __init__(
        self, remote: Remote, timeout: float = 60.0, on_error: ErrorHook | None = None
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
            f"cd {shlex.quote(workdir)} && "
            f"timeout -s KILL {limit} sbatch --parsable {shlex.quote(script)}",
            self.timeout,
        )
        first = done.stdout.strip().split(";")[0]
        if done.ok and first.isdigit():
            return Submitted(first)
        if done.returncode in (None, 137) and not done.stderr.strip():
            return Submitted(None, f"timed out after {limit} s")
        message = (done.stderr or done.stdout).strip() or f"sbatch exited {done.returncode}"
        return Submitted(None, message.splitlines()[-1].removeprefix("sbatch: error: "))

    def queue(self, job_ids: Sequence[str]) -> dict[str, JobStatus] | None:
        """squeue's view of ``job_ids`` (recently finished ones included); None when it failed."""
        if not job_ids:
            return {}
        done = self.remote.run(
            f"squeue -h -t all -o '{_SQUEUE_FORMAT}' -j {','.join(job_ids)}", self.timeout
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
            f"sacct -n -P -X -o {_SACCT_FIELDS} -j {','.join(ids)}", self.timeout
        )
        return parse_sacct(done.stdout) if done.ok else {}

    def cancel(self, *job_ids: str) -> bool:
        """``scancel`` exactly ``job_ids`` (one command); True when scancel succeeded."""
        if not job_ids:
            return True
        ids = " ".join(shlex.quote(j) for j in job_ids)
        return self.remote.run(f"scancel {ids}", self.timeout).ok

    def nodes(self, hostnames: Sequence[str]) -> list[SlurmNode] | None:
        """``scontrol show node`` of ``hostnames``; None when scontrol did not answer.

        scontrol lists the nodes it knows and exits non-zero when one is unknown: the nodes
        it did print still count.
        """
        if not hostnames:
            return []
        done = self.remote.run(
            f"scontrol show node {shlex.quote(compress_hostlist(hostnames))}", self.timeout
        )
        nodes = parse_scontrol_show_node(done.stdout)
        if not done.ok and not nodes and "not found" not in done.stderr:
            return None
        return nodes
