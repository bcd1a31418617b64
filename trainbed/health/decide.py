"""Drain or resume: the pure decision after a run.

The program drains a node on its first failure with a tagged reason
(``trainbed: GPU 3 (…) XID: …``), resumes only a node whose reason carries the tag and only once
the level that drained it passes again (when `auto_resume` is on), and never touches a node drained
for another reason (an administrator's). A check that could not run is no verdict: only
`could_not_run_drain_after` consecutive such runs drain, with
``trainbed: health check could not run: …``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from trainbed.health import TAG
from trainbed.health.judge import Verdict
from trainbed.health.plan import HealthPlan

#: Longest drain reason written (the first problem, shortened; the log holds them all).
REASON_CHARS = 200


@dataclass(frozen=True, slots=True)
class SlurmView:
    """The node as `scontrol show node` shows it; `known` is false when that could not run."""

    known: bool
    drained: bool = False
    reason: str = ""

    @property
    def ours(self) -> bool:
        """Drained by this program (its reason starts with the tag)."""
        return self.drained and self.reason.startswith(TAG)


@dataclass(frozen=True, slots=True)
class Memory:
    """What one run leaves the next: consecutive could-not-run runs of each level (a passing
    passive run says nothing of the prolog's hung DCGM), and the level whose run drained the
    node (None: not drained by the program)."""

    not_run_runs: tuple[tuple[str, int], ...] = ()
    drained_by: str | None = None

    def count(self, level: str) -> int:
        return dict(self.not_run_runs).get(level, 0)

    def counted(self, level: str, count: int) -> Memory:
        runs = {**dict(self.not_run_runs), level: count}
        return replace(self, not_run_runs=tuple(sorted((k, v) for k, v in runs.items() if v)))


@dataclass(frozen=True, slots=True)
class Action:
    """`drain` (with `reason`), `resume` or `none`; `note` says why, for the log."""

    kind: Literal["drain", "resume", "none"]
    note: str
    reason: str | None = None


def reason(host: str, problem: str, prefix: str = "") -> str:
    """``trainbed: PROBLEM`` without the node's own name (Slurm shows it beside the reason)."""
    text = problem.removeprefix(f"{host} ")
    return f"{TAG} {prefix}{text}"[:REASON_CHARS]


def outcome(verdicts: Sequence[Verdict]) -> str:
    """`fail` when any check failed, else `could not run` when any could not, else `pass`."""
    if any(v.failures for v in verdicts):
        return "fail"
    return "could not run" if any(v.could_not_run for v in verdicts) else "pass"


def decide(
    host: str,
    level: str,
    verdicts: Sequence[Verdict],
    slurm: SlurmView,
    memory: Memory,
    plan: HealthPlan,
) -> tuple[Action, Memory]:
    """The action after a run of `level`, and the memory for the next run."""
    failures = [f for v in verdicts for f in v.failures]
    unrun = [v.could_not_run for v in verdicts if v.could_not_run]
    if not slurm.known:
        return Action("none", "Slurm's view of the node could not be read"), memory
    if slurm.drained and not slurm.ours:
        note = f"drained for another reason ({slurm.reason or 'none given'}): left alone"
        return Action("none", note), replace(memory, drained_by=None)
    if not slurm.drained and memory.drained_by:
        memory = replace(memory, drained_by=None)  # someone resumed it: start afresh
    if failures:
        memory = memory.counted(level, 0)
        if slurm.ours:
            return Action("none", "still failing; already drained"), memory
        return (
            Action("drain", f"{len(failures)} failure(s)", reason(host, failures[0])),
            replace(memory, drained_by=level),
        )
    if unrun:
        count = memory.count(level) + 1
        memory = memory.counted(level, count)
        limit = plan.could_not_run_drain_after
        if slurm.drained:
            return Action("none", f"could not run ({count}); already drained"), memory
        if count < limit:
            return Action("none", f"could not run ({count} of {limit} before draining)"), memory
        text = reason(host, unrun[0], "health check could not run: ")
        return Action("drain", f"could not run {count} times", text), replace(
            memory, drained_by=level
        )
    memory = memory.counted(level, 0)
    if not slurm.ours:
        return Action("none", "healthy"), memory
    if not plan.auto_resume:
        return Action("none", "healthy; auto_resume is off: resume by hand"), memory
    if memory.drained_by not in (None, level):
        return Action("none", f"healthy; drained by the {memory.drained_by} level"), memory
    return Action("resume", f"the {level} level passes again"), replace(memory, drained_by=None)


def level_to_run(asked: str, slurm: SlurmView, memory: Memory) -> str:
    """The periodic (passive) run of a node the prolog level drained runs the prolog level, so
    that the level that drained it can pass again (no job will run its prolog there)."""
    if asked == "passive" and slurm.ours and memory.drained_by == "prolog":
        return "prolog"
    return asked
