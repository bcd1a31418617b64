"""Whether Slurm can run the suite's jobs on a node, from ``scontrol show node``.

A node that is down, drained (or draining), failing, not responding, powered down, in a
maintenance reservation or rebooting cannot run a measurement: the run excludes it and reports it
"not measured" with Slurm's state and reason, never as a fabric fault.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from trainbed.parse.slurm import SlurmNode

#: Base states and state flags (``scontrol show node`` ``State=BASE+FLAG+…``) of a node that will
#: not run a job. COMPLETING, PLANNED, RESERVED, MIXED, ALLOCATED do not say a node is unusable.
UNUSABLE_STATES = frozenset({"DOWN", "FAIL", "FAILING", "DRAIN", "DRAINED", "DRAINING", "FUTURE"})
UNUSABLE_FLAGS = frozenset(
    {
        "DRAIN",
        "FAIL",
        "NOT_RESPONDING",
        "POWERED_DOWN",
        "POWER_DOWN",
        "POWERING_DOWN",
        "MAINT",
        "REBOOT_ISSUED",
        "INVALID_REG",
    }
)


@dataclass(frozen=True, slots=True)
class NodeHealth:
    """One compute node as Slurm sees it: ``state`` as scontrol prints it, ``reason`` Slurm's."""

    name: str
    state: str
    reason: str | None
    usable: bool

    def describe(self) -> str:
        """``IDLE+COMPLETING+NOT_RESPONDING (reason: Not responding)``."""
        return f"{self.state} (reason: {self.reason})" if self.reason else self.state


def health(node: SlurmNode) -> NodeHealth:
    """The node's usability from its base state and flags."""
    base = node.state or "UNKNOWN"
    state = node.fields.get("State") or "+".join((base, *node.state_flags))
    usable = base not in UNUSABLE_STATES and not UNUSABLE_FLAGS & set(node.state_flags)
    return NodeHealth(node.name, state, node.reason, usable)


def node_health(nodes: Iterable[SlurmNode], expected: Iterable[str]) -> dict[str, NodeHealth]:
    """Every expected node's health; a node scontrol did not list is unusable (unknown to Slurm)."""
    seen = {n.name: health(n) for n in nodes}
    return {
        name: seen.get(name) or NodeHealth(name, "MISSING", "not in Slurm's node table", False)
        for name in expected
    }


def unusable(states: Mapping[str, NodeHealth]) -> dict[str, NodeHealth]:
    """The nodes of ``states`` Slurm cannot run a job on."""
    return {name: h for name, h in states.items() if not h.usable}
