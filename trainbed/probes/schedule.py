"""Probe schedule: ib_write_bw pair rounds and NCCL all-reduce groups.

``pair_rounds`` pairs every node with every other node exactly once, in the fewest rounds of
disjoint pairs, so that each round can run all its pairs at the same time without two tests
sharing an HCA. ``nccl_groups`` lists the NCCL runs from one node up to the whole cluster.
``build_schedule`` joins the two into the JSON-serialisable plan that ``trainbed probe`` runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from trainbed.hostlist import compress_hostlist, expand_hostlist

Pair = tuple[str, str]

# Multi-node runs force the ring algorithm: tree reads high on two nodes and hides a slow rail,
# so the fabric verdict is judged on ring numbers. Single-node runs keep NCCL's default so that
# NVLS (NVLink SHARP) shows up in the result.
MULTI_NODE_NCCL_ENV: dict[str, str] = {"NCCL_ALGO": "Ring"}


def _check_unique(nodes: Sequence[str]) -> None:
    seen: set[str] = set()
    for node in nodes:
        if node in seen:
            raise ValueError(f"node {node!r} appears more than once")
        seen.add(node)


def pair_rounds(nodes: Sequence[str]) -> list[list[Pair]]:
    """Every unordered pair of ``nodes`` exactly once, grouped into rounds of disjoint pairs.

    Round-robin tournament (circle method): N−1 rounds for even N, N rounds for odd N, where
    one node sits out each round. Deterministic for a given input order; within a pair the
    node that comes first in ``nodes`` comes first. Fewer than two nodes gives ``[]``.
    Raises ``ValueError`` if a node name repeats.
    """
    _check_unique(nodes)
    if len(nodes) < 2:
        return []
    order = {node: i for i, node in enumerate(nodes)}
    slots: list[str | None] = list(nodes)
    if len(slots) % 2:
        slots.append(None)  # the "bye": whoever meets it sits the round out
    n = len(slots)
    rounds: list[list[Pair]] = []
    for _ in range(n - 1):
        pairs: list[Pair] = []
        for i in range(n // 2):
            a, b = slots[i], slots[n - 1 - i]
            if a is None or b is None:
                continue
            pairs.append((a, b) if order[a] < order[b] else (b, a))
        rounds.append(pairs)
        # Keep slot 0 fixed and rotate the rest one step clockwise.
        slots = [slots[0], slots[-1], *slots[1:-1]]
    return rounds


def _group_name(size: int, number: int) -> str:
    return f"pair-{number}" if size == 2 else f"group{size}-{number}"


def nccl_groups(nodes: Sequence[str]) -> list[dict[str, Any]]:
    """NCCL all-reduce runs, smallest first.

    First every node alone (``single-<node>``, kind ``single``). Then, for each power-of-two
    size 2, 4, 8, … below N, the nodes cut into consecutive disjoint groups of that size
    (``pair-1``, ``pair-2``, … for size 2, ``group4-1``, … for larger sizes; a trailing
    remainder smaller than the size is left out at that size). Last, one group of all N nodes
    named ``all`` (this is also the power-of-two group when N is a power of two). Multi-node
    groups carry ``env`` = ``{"NCCL_ALGO": "Ring"}``; single-node runs use NCCL's defaults.
    Raises ``ValueError`` if a node name repeats.
    """
    _check_unique(nodes)
    groups: list[dict[str, Any]] = [
        {"name": f"single-{node}", "nodes": [node], "kind": "single"} for node in nodes
    ]
    n = len(nodes)
    size = 2
    while size < n:
        for number, start in enumerate(range(0, n - size + 1, size), start=1):
            groups.append(
                {
                    "name": _group_name(size, number),
                    "nodes": list(nodes[start : start + size]),
                    "kind": "pair" if size == 2 else "group",
                    "env": dict(MULTI_NODE_NCCL_ENV),
                }
            )
        size *= 2
    if n >= 2:
        groups.append(
            {"name": "all", "nodes": list(nodes), "kind": "all", "env": dict(MULTI_NODE_NCCL_ENV)}
        )
    return groups


def build_schedule(nodes: Sequence[str], rails: Sequence[str]) -> dict[str, Any]:
    """The probe plan as plain JSON data.

    ``{"ib_write_bw": {"rails": [...], "rounds": [[[a, b], ...], ...]}, "nccl": [...]}``.
    Every rail of a pair is tested in the pair's round: rails are not a separate dimension of
    the rounds. ``nccl`` is :func:`nccl_groups`.
    """
    return {
        "ib_write_bw": {
            "rails": list(rails),
            "rounds": [[[a, b] for a, b in rnd] for rnd in pair_rounds(nodes)],
        },
        "nccl": nccl_groups(nodes),
    }


def iter_rounds(nodes: Sequence[str], limit: int | None = None) -> Iterator[list[Pair]]:
    """The rounds of :func:`pair_rounds`, one at a time, each cut to its first `limit` pairs:
    O(N + rounds × limit), where listing every pair is O(N²).

    The circle method keeps slot 0 fixed and rotates the others one step per round, so slot j
    of round r is the rest's slot j − 1 − r (mod its length).
    """
    _check_unique(nodes)
    if len(nodes) < 2:
        return
    order = {node: i for i, node in enumerate(nodes)}
    slots: list[str | None] = list(nodes)
    if len(slots) % 2:
        slots.append(None)
    n = len(slots)
    rest = slots[1:]
    for number in range(n - 1):

        def slot(j: int, number: int = number) -> str | None:
            return slots[0] if j == 0 else rest[(j - 1 - number) % (n - 1)]

        pairs: list[Pair] = []
        for i in range(n // 2):
            if limit is not None and len(pairs) >= limit:
                break
            a, b = slot(i), slot(n - 1 - i)
            if a is not None and b is not None:
                pairs.append((a, b) if order[a] < order[b] else (b, a))
        yield pairs


def _hostlist(nodes: Sequence[str]) -> str | list[str]:
    """`nodes` as one Slurm hostlist when it gives them back in this order, else the list."""
    compressed = compress_hostlist(nodes)
    return compressed if expand_hostlist(compressed) == list(nodes) else list(nodes)


def schedule_summary(nodes: Sequence[str], rails: Sequence[str]) -> dict[str, Any]:
    """The plan at a size proportional to what it runs: the ib_write_bw rounds counted (round r's
    pairs follow from the node order by the circle method: :func:`iter_rounds`), each NCCL run's
    nodes as one hostlist (`gpu[01-04]`) where that keeps their order.

    :func:`build_schedule` lists every pair: N(N−1)/2 of them.
    """
    _check_unique(nodes)
    n = len(nodes)
    return {
        "ib_write_bw": {
            "rails": list(rails),
            "method": "circle",
            "nodes": _hostlist(nodes),
            "round_count": 0 if n < 2 else n - 1 + n % 2,
            "pairs_per_round": n // 2,
            "pairs": n * (n - 1) // 2,
        },
        "nccl": [
            {**run, "nodes": _hostlist(run["nodes"]), "node_count": len(run["nodes"])}
            for run in nccl_groups(nodes)
        ],
    }
