"""The run's bound: the time within which ``trainbed probe`` ends with a verdict, whatever happens.

Derived from the run's own schedule, before anything is submitted: every job's time limit plus
:data:`JOB_MARGIN_S` (Slurm's start-up, KillWait and OverTimeLimit, step cleanup), as if every
job ran one after the other, plus :data:`RUN_MARGIN_S` for everything around the jobs (staging,
submission, the final cancel, fetching and judging), plus the most the run may wait for a Slurm
controller to take control (:mod:`trainbed.probes.controller`). The run enforces it with a :class:`Budget`:
it stops following jobs :data:`FINISH_RESERVE_S` before the bound, cancels what is left and
judges what came back; re-planned jobs are submitted only when they fit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: Per job, on top of its time limit.
JOB_MARGIN_S = 120
#: Per run: staging and submission before the jobs, cancel, fetch and judging after them.
RUN_MARGIN_S = 240
#: Of the run margin, what is kept for the end: cancel what is left, fetch, judge, write.
FINISH_RESERVE_S = 120


@dataclass(frozen=True, slots=True)
class Bound:
    """``seconds`` = Σ (time limit + job margin) over ``jobs`` jobs + the run margin + the
    controller wait."""

    seconds: int
    jobs: int
    job_limits_s: int
    job_margin_s: int = JOB_MARGIN_S
    run_margin_s: int = RUN_MARGIN_S
    controller_wait_s: int = 0

    def describe(self) -> str:
        wait = f" + {self.controller_wait_s} s for a controller" if self.controller_wait_s else ""
        return (
            f"verdict within {self.seconds} s: {self.jobs} job(s) × (time limit + "
            f"{self.job_margin_s} s) + {self.run_margin_s} s{wait}"
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "seconds": self.seconds,
            "jobs": self.jobs,
            "job_limits_s": self.job_limits_s,
            "job_margin_s": self.job_margin_s,
            "run_margin_s": self.run_margin_s,
            "controller_wait_s": self.controller_wait_s,
        }


def run_bound(limits_s: Iterable[int], controller_wait_s: int = 0) -> Bound:
    """The bound of a run whose jobs have the time limits ``limits_s`` (seconds) and that may
    wait ``controller_wait_s`` in all for a controller."""
    limits = list(limits_s)
    total = sum(limits)
    seconds = total + len(limits) * JOB_MARGIN_S + RUN_MARGIN_S + controller_wait_s
    return Bound(seconds, len(limits), total, controller_wait_s=controller_wait_s)


class Budget:
    """The time left of a bound, on a clock (seconds, monotonic)."""

    def __init__(
        self,
        bound: Bound,
        clock: Callable[[], float] = time.monotonic,
        start: float | None = None,
    ) -> None:
        self.bound = bound
        self.clock = clock
        self.start = clock() if start is None else start

    @property
    def deadline(self) -> float:
        return self.start + self.bound.seconds

    @property
    def watch_deadline(self) -> float:
        """When following jobs stops, leaving :data:`FINISH_RESERVE_S` to end the run."""
        return self.deadline - FINISH_RESERVE_S

    def elapsed(self) -> float:
        return self.clock() - self.start

    def watch_left(self) -> float:
        return self.watch_deadline - self.clock()

    def fits(self, seconds: float) -> bool:
        """Whether ``seconds`` of work still end before the watch deadline."""
        return seconds <= self.watch_left()

    def timeout(self, default: float) -> float:
        """A command timeout that does not run past the watch deadline (at least 1 s)."""
        return max(1.0, min(default, self.watch_left()))
