"""Topology rounds: load every leaf–spine cable of a rail's fat tree once, and name a bad one. Pure.

The model (what a 1:1 two-tier fat tree from the inventory implies): a rail's leaves each serve
up to :data:`PORTS` nodes (position p: the node's place among the leaf's nodes in inventory
order) and have as many uplinks, spread round-robin over the rail's S spines (the leaf's
``uplinks``): uplink p goes to spine p mod S, its cable number p div S. Routing is D-mod-K, as
OpenSM's ``ftree``/``updn`` give with LIDs in port order: traffic to the node at position p of a
leaf goes up on uplink p of the sending leaf and down on the same-numbered cable to the
receiving leaf. So when leaf A's node p sends to leaf B's node p for every p, A's uplinks and B's
downlinks each carry exactly one stream.

:func:`topology_rounds`: round 1 has leaf 2i's nodes serve leaf 2i+1's (ib_write_bw's client
writes to the server), round 2 leaf 2i+1's serve leaf 2i+2's, and an odd count of leaves adds a
third round. At most three rounds, whatever N: every cable carries a stream in each direction
and no two streams of a round share a cable direction (``tests/unit/test_topology.py`` checks
both). Positions a short last leaf lacks leave their cables unloaded (:func:`coverage`). With two
leaves a cable and its partner at the other leaf carry the same two streams: both are named,
one of them is at fault.

:func:`fabric_loads`: the report's per-leaf, per-spine and per-cable counts of measured and failed
streams, over every ib_write_bw measurement of the run.

:func:`localise_cables`: each cable carries two streams; a cable both of whose streams fail, while
the nodes at both ends pass elsewhere, is named (``link`` between the leaf and the spine); every
cable of one spine failing names the spine, every cable of one leaf the leaf.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from trainbed.inventory.model import Inventory
from trainbed.probes.judge import IbVerdict
from trainbed.probes.localise import AMBIGUOUS, LINK, Finding

Pair = tuple[str, str]
#: Node ports (and uplinks) of a 1:1 QM9790 leaf.
PORTS = 32
UP, DOWN = "up", "down"


@dataclass(frozen=True, slots=True)
class Cable:
    """The ``number``-th cable between ``leaf`` and ``spine``, one direction of it."""

    leaf: str
    spine: str
    number: int
    direction: str

    @property
    def physical(self) -> tuple[str, str, int]:
        return (self.leaf, self.spine, self.number)


@dataclass(frozen=True)
class Tree:
    """One rail's fat tree: each leaf's nodes in port order, and its spines."""

    rail: str
    leaves: dict[str, tuple[str, ...]]
    spines: dict[str, tuple[str, ...]]

    @cached_property
    def _places(self) -> dict[str, tuple[str, int]]:
        return {n: (leaf, p) for leaf, nodes in self.leaves.items() for p, n in enumerate(nodes)}

    def place(self, node: str) -> tuple[str, int]:
        """The node's leaf and position on it (``KeyError`` when it is on none)."""
        return self._places[node]

    def cables(self) -> list[tuple[str, str, int]]:
        """Every physical leaf–spine cable of the rail."""
        return [
            (leaf, spines[p % len(spines)], p // len(spines))
            for leaf, spines in self.spines.items()
            for p in range(PORTS)
        ]

    def route(self, client: str, server: str) -> tuple[Cable, ...]:
        """The cables ``client``'s stream to ``server`` uses (none within one leaf)."""
        src, _ = self.place(client)
        dst, p = self.place(server)
        if src == dst:
            return ()
        up, down = self.spines[src], self.spines[dst]
        return (
            Cable(src, up[p % len(up)], p // len(up), UP),
            Cable(dst, down[p % len(down)], p // len(down), DOWN),
        )


def trees(inventory: Inventory) -> list[Tree]:
    """Each rail's fat tree; [] when the rails' leaves have no uplinks (a single switch a rail)."""
    switches = {sw.name: sw for sw in inventory.switches}
    found = []
    for rail in inventory.rails:
        leaves: dict[str, list[str]] = defaultdict(list)
        for node in inventory.compute:
            leaf = next((h.switch for h in node.hcas if h.rail == rail.name), None)
            if leaf is not None:
                leaves[leaf].append(node.hostname)
        spines = {leaf: switches[leaf].uplinks for leaf in leaves if leaf in switches}
        if len(leaves) < 2 or not all(spines.get(leaf) for leaf in leaves):
            continue
        found.append(Tree(rail.name, {k: tuple(v) for k, v in leaves.items()}, spines))
    return found


def topology_rounds(tree: Tree) -> list[list[Pair]]:
    """The rounds of pairs (server, client) that load every cable once each way (module doc).

    Leaves in order 0..L−1. Round 1: leaf 2i serves leaf 2i+1; round 2: leaf 2i+1 serves leaf
    2i+2 (mod L for even L); odd L adds round 3, leaf L−1 serving leaf 0. Each cable's two
    streams then meet two different leaves (L ≥ 3), which is what tells a bad cable from its
    partner at the other end. Within a pair of leaves node p serves node p.
    """
    names = list(tree.leaves)
    count = len(names)
    plans = [
        [(names[i], names[i + 1]) for i in range(0, count - 1, 2)],
        [(names[i], names[(i + 1) % count]) for i in range(1, count - (count % 2), 2)],
    ]
    if count % 2:
        plans.append([(names[-1], names[0])])
    rounds: list[list[Pair]] = []
    for plan in plans:
        rnd: list[Pair] = []
        for servers, clients in plan:
            width = min(len(tree.leaves[servers]), len(tree.leaves[clients]))
            rnd += [(tree.leaves[servers][p], tree.leaves[clients][p]) for p in range(width)]
        if rnd:
            rounds.append(rnd)
    return rounds


def loads(tree: Tree, rounds: Sequence[Sequence[Pair]]) -> dict[Cable, list[Pair]]:
    """Which streams each cable direction carries over ``rounds``."""
    used: dict[Cable, list[Pair]] = defaultdict(list)
    for rnd in rounds:
        for server, client in rnd:
            for cable in tree.route(client, server):
                used[cable].append((server, client))
    return used


def coverage(tree: Tree, rounds: Sequence[Sequence[Pair]]) -> list[tuple[str, str, int]]:
    """The physical cables of ``tree`` not loaded both ways by ``rounds``."""
    used = loads(tree, rounds)
    return [c for c in tree.cables() if not all(Cable(*c, d) in used for d in (UP, DOWN))]


def localise_cables(
    tree: Tree, verdicts: Iterable[IbVerdict], good_nodes: Iterable[str] = ()
) -> list[Finding]:
    """Bad cables, spines and leaves of ``tree`` from the topology rounds' verdicts on its rail.

    A failing stream between two ``good_nodes`` (nodes that passed elsewhere on this rail)
    implicates its two cables; a cable is named when both of its streams fail.
    """
    good = set(good_nodes)
    streams: dict[tuple[str, str, int], list[IbVerdict]] = defaultdict(list)
    for v in verdicts:
        if v.rail != tree.rail:
            continue
        for cable in tree.route(v.node_b, v.node_a):
            streams[cable.physical].append(v)
    bad = {
        c: vs
        for c, vs in streams.items()
        if len(vs) >= 2
        and not any(v.passed for v in vs)
        and all(n in good for v in vs for n in v.pair)
    }
    findings: list[Finding] = []
    explained: set[tuple[str, str, int]] = set()
    for name in ("spine", "leaf"):
        members: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
        for c in tree.cables():
            members[c[1] if name == "spine" else c[0]].append(c)
        for switch, cables in members.items():
            if len(cables) > 1 and all(c in bad for c in cables):
                nodes = tuple(sorted({n for c in cables for v in bad[c] for n in v.pair}))
                evidence = (
                    f"ib_write_bw on {tree.rail}: every stream through {name} {switch} fails "
                    f"({len(cables)} cables, {sum(len(bad[c]) for c in cables)} streams) while "
                    "their nodes pass elsewhere: the switch, not its cables"
                )
                findings.append(
                    Finding(AMBIGUOUS, None, None, tree.rail, None, evidence, nodes=nodes)
                )
                for c in cables:
                    explained.add(c)
                    bad.pop(c)
    for (leaf, spine, number), vs in sorted(bad.items()):
        explained.add((leaf, spine, number))
        shown = "; ".join(f"{v.node_b}→{v.node_a} round {v.round}: {_figure(v)}" for v in vs)
        evidence = (
            f"{leaf} ↔ {spine} cable {number} on {tree.rail}: both streams it carries fail "
            f"({shown}) while their nodes pass with other partners"
        )
        nodes = tuple(sorted({n for v in vs for n in v.pair}))
        findings.append(Finding(LINK, leaf, None, tree.rail, spine, evidence, nodes=nodes))
    for v in dict.fromkeys(v for vs in streams.values() for v in vs):
        route = tree.route(v.node_b, v.node_a)
        if v.passed or not all(n in good for n in v.pair):
            continue
        if any(c.physical in explained for c in route):
            continue
        via = " or ".join(f"{c.leaf} ↔ {c.spine} cable {c.number}" for c in route)
        evidence = (
            f"ib_write_bw {v.node_b}→{v.node_a} on {tree.rail}, round {v.round}: {_figure(v)} "
            f"while both nodes pass elsewhere, and the other streams of {via} pass"
        )
        findings.append(Finding(AMBIGUOUS, None, None, tree.rail, None, evidence, nodes=v.pair))
    return findings


def _figure(v: IbVerdict) -> str:
    return f"{v.gbps:.2f} Gb/s" if v.gbps is not None else (v.reason or "failed")


def cable_findings(
    inventory: Inventory, verdicts: Sequence[IbVerdict], first: int
) -> list[Finding]:
    """Cable, spine and leaf findings of the topology rounds (round ``first`` on) of a run.

    A node counts as good on a rail when any of its measurements there passed.
    """
    findings = []
    for tree in trees(inventory):
        on_rail = [v for v in verdicts if v.rail == tree.rail]
        good = {n for v in on_rail if v.passed for n in v.pair}
        findings += localise_cables(tree, [v for v in on_rail if v.round >= first], good)
    return findings


#: Of the leaf–spine cables, the report lists those with a failed stream, at most this many.
UPLINKS_LISTED = 64


def _load_row(rail: str, switch: str, counts: list[int]) -> dict[str, Any]:
    return {"rail": rail, "switch": switch, "streams": counts[0], "failed": counts[1]}


def fabric_loads(found: Sequence[Tree], verdicts: Sequence[IbVerdict]) -> dict[str, Any] | None:
    """Measured and failed ib_write_bw streams per leaf, per spine and per leaf–spine cable of
    each rail's fat tree in ``found`` (the ``fabric`` block of the results); None without one.

    A stream counts at every switch its route crosses (:meth:`Tree.route`: its leaves, and the
    spine between them when they differ), so one bad uplink shows as failures concentrated on
    one spine and its cable. Cables are listed only when a stream over them failed.
    """
    if not found:
        return None
    leaves: dict[tuple[str, str], list[int]] = {}
    spines: dict[tuple[str, str], list[int]] = {}
    cables: dict[tuple[str, str, str, int], list[int]] = defaultdict(lambda: [0, 0])
    for tree in found:
        for leaf, ups in tree.spines.items():
            leaves[(tree.rail, leaf)] = [0, 0]
            for spine in ups:
                spines.setdefault((tree.rail, spine), [0, 0])
        for v in verdicts:
            if v.rail != tree.rail:
                continue
            try:
                route = tree.route(v.node_b, v.node_a)
                ends = {tree.place(v.node_a)[0], tree.place(v.node_b)[0]}
            except KeyError:
                continue  # a node on no leaf of this rail
            failed = int(not v.passed)
            for key, table in [
                *(((tree.rail, leaf), leaves) for leaf in ends),
                *(((tree.rail, spine), spines) for spine in {c.spine for c in route}),
            ]:
                table[key][0] += 1
                table[key][1] += failed
            for c in {c.physical for c in route}:
                cables[(tree.rail, *c)][0] += 1
                cables[(tree.rail, *c)][1] += failed
    bad = sorted(
        (k for k, (_, failed) in cables.items() if failed), key=lambda k: (-cables[k][1], k)
    )
    return {
        "leaves": [_load_row(r, s, n) for (r, s), n in leaves.items()],
        "spines": [_load_row(r, s, n) for (r, s), n in spines.items()],
        "uplinks": [
            {
                "rail": rail,
                "leaf": leaf,
                "spine": spine,
                "cable": number,
                "streams": cables[(rail, leaf, spine, number)][0],
                "failed": cables[(rail, leaf, spine, number)][1],
            }
            for rail, leaf, spine, number in bad[:UPLINKS_LISTED]
        ],
        "uplinks_failed": len(bad),
    }
