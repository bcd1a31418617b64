"""Exclusion and re-pairing: the schedule after nodes drop out of a run. Pure functions.

A schedule's measurements are :class:`Unit`\\ s: one NCCL run, or one ib_write_bw pair (on every
rail). When nodes are excluded, the units that were not measured yet and need one of them are
"not measured"; the others of the lost jobs go on with other partners: :func:`replacement` is
the schedule the remaining nodes would have had (:func:`build_schedule`), less every unit already
measured or still on its way, so each remaining pair is measured once and every remaining node
still gets its NCCL runs. Re-planned NCCL runs carry a ``-r<generation>`` suffix; re-planned
ib_write_bw rounds are appended after the existing ones (their numbers continue).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trainbed.probes.schedule import Pair, build_schedule

Key = tuple[str, frozenset[str]]


@dataclass(frozen=True, slots=True)
class Unit:
    """One measurement of the schedule: an NCCL run (``name`` its run name) or an ib_write_bw
    pair (``name`` ``a–b``, on every rail of the schedule)."""

    suite: str
    name: str
    nodes: tuple[str, ...]

    @property
    def key(self) -> Key:
        return (self.suite, frozenset(self.nodes))

    def label(self) -> str:
        return f"{self.suite} {self.name}"


def pair_unit(a: str, b: str) -> Unit:
    return Unit("ib_write_bw", f"{a}–{b}", (a, b))


def units(schedule: Mapping[str, Any], suites: Sequence[str]) -> list[Unit]:
    """The schedule's measurements of the selected suites, NCCL runs first."""
    found: list[Unit] = []
    if "nccl" in suites:
        found += [Unit("nccl", run["name"], tuple(run["nodes"])) for run in schedule["nccl"]]
    if "ib_write_bw" in suites:
        found += [pair_unit(a, b) for rnd in schedule["ib_write_bw"]["rounds"] for a, b in rnd]
    return found


def without(schedule: Mapping[str, Any], lost: Iterable[Unit]) -> dict[str, Any]:
    """``schedule`` less the ``lost`` units; rounds keep their places (one may become empty)."""
    gone = {u.key for u in lost}
    plan = schedule["ib_write_bw"]
    return {
        "ib_write_bw": {
            "rails": list(plan["rails"]),
            "rounds": [
                [[a, b] for a, b in rnd if pair_unit(a, b).key not in gone]
                for rnd in plan["rounds"]
            ],
        },
        "nccl": [
            dict(run)
            for run in schedule["nccl"]
            if Unit("nccl", "", tuple(run["nodes"])).key not in gone
        ],
    }


def pack_rounds(pairs: Iterable[Pair]) -> list[list[Pair]]:
    """Pairs into rounds of disjoint pairs, greedily in the given order (first round that fits)."""
    rounds: list[list[Pair]] = []
    busy: list[set[str]] = []
    for a, b in pairs:
        for rnd, used in zip(rounds, busy, strict=True):
            if a not in used and b not in used:
                rnd.append((a, b))
                used |= {a, b}
                break
        else:
            rounds.append([(a, b)])
            busy.append({a, b})
    return rounds


def replacement(
    rails: Sequence[str],
    remaining: Sequence[str],
    covered: Iterable[Key],
    generation: int,
) -> dict[str, Any]:
    """What the ``remaining`` nodes still need: their schedule less the ``covered`` units.

    ``generation`` 0 keeps the schedule's own names (the plan before anything ran); later
    generations suffix NCCL run names with ``-r<generation>``.
    """
    done = set(covered)
    target = build_schedule(remaining, rails)
    pairs = [
        (a, b)
        for rnd in target["ib_write_bw"]["rounds"]
        for a, b in rnd
        if pair_unit(a, b).key not in done
    ]
    nccl = []
    for run in target["nccl"]:
        if Unit("nccl", "", tuple(run["nodes"])).key in done:
            continue
        name = run["name"] if generation == 0 else f"{run['name']}-r{generation}"
        nccl.append({**run, "name": name})
    return {
        "ib_write_bw": {
            "rails": list(rails),
            "rounds": [[[a, b] for a, b in rnd] for rnd in pack_rounds(pairs)],
        },
        "nccl": nccl,
    }


def extend(schedule: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``schedule`` followed by ``extra``'s NCCL runs and rounds."""
    return {
        "ib_write_bw": {
            "rails": list(schedule["ib_write_bw"]["rails"]),
            "rounds": [
                *(list(r) for r in schedule["ib_write_bw"]["rounds"]),
                *(list(r) for r in extra["ib_write_bw"]["rounds"]),
            ],
        },
        "nccl": [*(dict(r) for r in schedule["nccl"]), *(dict(r) for r in extra["nccl"])],
    }


def is_empty(schedule: Mapping[str, Any]) -> bool:
    return not schedule["nccl"] and not any(schedule["ib_write_bw"]["rounds"])


@dataclass(frozen=True, slots=True)
class NotMeasured:
    """A measurement of the plan the run did not take, and why (never a verdict on hardware)."""

    unit: Unit
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "measurement": self.unit.label(),
            "suite": self.unit.suite,
            "nodes": list(self.unit.nodes),
            "why": self.why,
        }

    def line(self) -> str:
        return f"{self.unit.label()}: not measured: {self.why}"


@dataclass(frozen=True, slots=True)
class Excluded:
    """A node the run excluded: Slurm's ``state`` and ``reason`` when it was seen, ``at_s`` into
    the run (0 before anything was submitted)."""

    node: str
    state: str
    reason: str | None
    at_s: float

    def why(self) -> str:
        reason = f", reason: {self.reason}" if self.reason else ""
        return f"{self.node} is {self.state} in Slurm{reason}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "state": self.state,
            "reason": self.reason,
            "at_s": round(self.at_s, 1),
        }
