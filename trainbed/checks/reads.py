"""Each check module's read-only commands on a node, gathered so that the first check of a node
reads them all ahead in one SSH round trip (issue 17).

A module registers a function of (inventory, node) returning its reads, for the nodes of a
group (the group of its checks, as in ``@pytest.mark.nodes``)::

    @reads.register("compute")
    def _reads(inventory: Inventory, node: Node) -> list[str]: ...

The registry is filled when pytest imports the modules it collected; `node_reads` asks every
registered function whose group holds the node. A read in the list is a command exactly as the
check runs it (`trainbed.remote.command`): the check's `Remote.run` of it takes the result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from trainbed.checks.expected import hosts_of
from trainbed.inventory.model import Inventory, Node

Reads = Callable[[Inventory, Node], list[str]]
#: A group of hosts as `expected.hosts_of` takes it.
Group = str | Callable[[Inventory], list[str]]
F = TypeVar("F", bound=Callable[..., list[str]])

#: (module, function name) → (group, reads): one entry per function, however often imported.
REGISTRY: dict[tuple[str, str], tuple[Group, Reads]] = {}


def register(group: Group) -> Callable[[F], F]:
    """Register the decorated function's reads for the nodes of `group`."""

    def add(reads: F) -> F:
        REGISTRY[(reads.__module__, reads.__qualname__)] = (group, reads)
        return reads

    return add


#: (id of the inventory, group) → (that inventory, the group's hostnames).
_MEMBERS: dict[tuple[int, Group], tuple[Inventory, frozenset[str]]] = {}


def _members(inventory: Inventory, group: Group) -> frozenset[str]:
    held = _MEMBERS.get((id(inventory), group))
    if held is None or held[0] is not inventory:
        held = _MEMBERS[(id(inventory), group)] = (inventory, frozenset(hosts_of(inventory, group)))
    return held[1]


def node_reads(inventory: Inventory, node: Node) -> Iterator[str]:
    """Every registered read for `node`, in registration order (lazily: nothing is computed
    until asked, so `Remote.prefetch` of a node read ahead already costs nothing)."""
    for group, reads in list(REGISTRY.values()):
        if node.hostname in _members(inventory, group):
            yield from reads(inventory, node)
