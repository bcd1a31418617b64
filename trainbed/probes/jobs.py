"""What the run reports about each Slurm job it submitted."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: sacct states of a job that ran to the end. Anything else (FAILED, TIMEOUT, NODE_FAIL,
#: CANCELLED, OUT_OF_MEMORY, PREEMPTED, or REJECTED for an sbatch refusal) did not.
COMPLETED_STATES = frozenset({"COMPLETED"})
#: A job that never ran for a reason outside the nodes it was for (its ``reason`` says which,
#: e.g. ``controller: ...``): it has no verdict and blames no node.
NOT_MEASURED = "NOT_MEASURED"


@dataclass(frozen=True, slots=True)
class Job:
    """One Slurm job of the suite.

    ``job_id`` is None when ``sbatch`` refused the job (state ``REJECTED``, ``reason`` its message).
    ``suite`` is ``"nccl"`` or ``"ib_write_bw"``; ``name`` the NCCL run name or the ib_write_bw
    round/pair the job covered.
    """

    job_id: str | None
    name: str
    suite: str
    nodes: tuple[str, ...]
    state: str
    reason: str | None = None
    elapsed_s: float | None = None

    @property
    def completed(self) -> bool:
        return self.state.split()[0].upper() in COMPLETED_STATES

    @property
    def measured(self) -> bool:
        """False for a job kept from running by something other than its nodes."""
        return self.state != NOT_MEASURED

    def describe(self) -> str:
        """``job 1234 TIMEOUT: reason`` — a one-line account for verdict reasons."""
        ident = f"job {self.job_id}" if self.job_id else f"job {self.name} (not submitted)"
        tail = f": {self.reason}" if self.reason else ""
        if not self.measured:
            return f"{ident} not measured{tail}"
        return f"{ident} {self.state}{tail}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["nodes"] = list(self.nodes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        return cls(
            job_id=data.get("job_id"),
            name=data["name"],
            suite=data["suite"],
            nodes=tuple(data.get("nodes", ())),
            state=data["state"],
            reason=data.get("reason"),
            elapsed_s=data.get("elapsed_s"),
        )
