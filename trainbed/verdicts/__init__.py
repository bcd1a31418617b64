"""Judgements on facts of the world: one module per fact, shared by every caller.

A verdict module turns parsed facts (what `trainbed.parse` made of a tool's output) and the
values the inventory expects into one-line problems in the suite's form
``NODE DEVICE WHAT: expected X, got Y``, or None (an empty list) when the fact is healthy. It
never runs a command and never reads the inventory itself: the acceptance checks
(`trainbed.checks`), the day-2 quick checks (`trainbed.daytwo`, used by the playbooks) and the
probes' node facts (`trainbed.probes.facts`) gather the facts their own way and ask the same
module. A fact that could not be read is `NotRun` ("could not run"), never a pass and never a
fault.

What belongs here: health judgements of hardware and services on one node — HCA ports
(`hca_port`), GPU count (`gpu_count`), systemd units (`service`), and the ones to come (XID
events, ECC errors, PCIe link width/speed, NVLink state, InfiniBand error counters). Parsing
belongs in `trainbed.parse`, command execution in `trainbed.remote`, and the probes' performance
thresholds in `trainbed.probes.thresholds`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NotRun:
    """A judgement that could not be made (the command reading the fact failed): neither a pass
    nor a fault. ``str()`` is its one-line account."""

    what: str
    why: str

    def __str__(self) -> str:
        return f"{self.what}: could not run ({self.why})"


def not_run(what: str, command: str, rc: int | None, stderr: str = "") -> NotRun:
    """`gpu01 nvidia-smi: could not run (exit 9: No devices were found)`."""
    detail = " ".join(stderr.split())[:200]
    why = f"`{command}` exit {rc}" + (f": {detail}" if detail else "")
    return NotRun(what, why)


def mismatch(what: str, expected: object, actual: object) -> str:
    """The one-line form of every problem: ``WHAT: expected X, got Y``."""
    return f"{what}: expected {expected}, got {actual}"


def check(problems: Iterable[str | None]) -> None:
    """Fail with every problem on one line (`; `-joined), or pass when there is none (a None or
    empty item is no problem)."""
    found = [p for p in problems if p]
    if found:
        raise AssertionError("; ".join(found))


@dataclass(frozen=True, slots=True)
class Findings:
    """What a health judgement found: `failures` fail the check, `warnings` are reported beside
    it (the suite records them per check; the node-local health program logs them) and never
    fail it. Both are one-line problems in the suite's form."""

    failures: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def __add__(self, other: Findings) -> Findings:
        return Findings(self.failures + other.failures, self.warnings + other.warnings)

    def __bool__(self) -> bool:
        return bool(self.failures or self.warnings)


def findings(failures: Iterable[str | None] = (), warnings: Iterable[str | None] = ()) -> Findings:
    """`Findings` from iterables of problems (None items are no problem)."""
    return Findings(tuple(p for p in failures if p), tuple(p for p in warnings if p))


def gpu_name(index: int, bus_id: str | None = None) -> str:
    """How a GPU is named in a problem: ``GPU 3 (00000000:9B:00.0)``, or ``GPU 3``."""
    return f"GPU {index} ({bus_id})" if bus_id else f"GPU {index}"
