"""Topology rounds (trainbed.probes.topology): every leaf–spine cable loaded once each way."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.probe_helpers import inventory_for
from trainbed.probes.judge import IbVerdict
from trainbed.probes.localise import AMBIGUOUS, LINK
from trainbed.probes.topology import (
    DOWN,
    PORTS,
    UP,
    Cable,
    Tree,
    coverage,
    fabric_loads,
    loads,
    localise_cables,
    topology_rounds,
    trees,
)


def tree_of(nodes: int, spines: int, rail: str = "rail0") -> Tree:
    names = [f"gpu{i:04d}" for i in range(1, nodes + 1)]
    count = -(-nodes // PORTS)
    leaves = {f"leaf{k}": tuple(names[k * PORTS : (k + 1) * PORTS]) for k in range(count)}
    return Tree(rail, leaves, {leaf: tuple(f"spine{s}" for s in range(spines)) for leaf in leaves})


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 64), st.sampled_from((1, 2, 4, 8, 16, 32)), st.integers(0, PORTS - 1))
def test_every_cable_carries_one_stream_each_way(leaves: int, spines: int, short: int):
    tree = tree_of(leaves * PORTS - short, spines)
    rounds = topology_rounds(tree)
    assert len(rounds) <= 3
    for rnd in rounds:
        nodes = [n for pair in rnd for n in pair]
        assert len(nodes) == len(set(nodes))  # one stream per HCA a round
        # No two streams of a round share a cable direction.
        assert all(len(streams) == 1 for streams in loads(tree, [rnd]).values())
    missing = coverage(tree, rounds)
    if short == 0:
        assert missing == []
    else:  # only cables whose stream needs a position the short leaf lacks
        assert missing and len(missing) <= 3 * short


def verdicts_with(tree: Tree, bad: set[tuple[str, str, int]]) -> list[IbVerdict]:
    out = []
    for number, rnd in enumerate(topology_rounds(tree), start=10):
        for server, client in rnd:
            hit = any(c.physical in bad for c in tree.route(client, server))
            gbps = 300.0 if hit else 395.0
            out.append(
                IbVerdict(
                    number, server, client, tree.rail, "mlx5_0", "mlx5_0", gbps, 360.0, not hit
                )
            )
    return out


@pytest.mark.parametrize("leaves,spines", [(3, 2), (4, 2), (32, 16), (5, 3), (7, 4)])
def test_one_bad_cable_is_named(leaves, spines):
    tree = tree_of(leaves * PORTS, spines)
    nodes = [n for ns in tree.leaves.values() for n in ns]
    for cable in (tree.cables()[0], tree.cables()[-1], tree.cables()[len(tree.cables()) // 2]):
        findings = localise_cables(tree, verdicts_with(tree, {cable}), nodes)
        assert [(f.kind, f.node, f.peer) for f in findings] == [(LINK, cable[0], cable[1])]
        assert f"cable {cable[2]}" in findings[0].evidence


def test_two_leaves_cannot_tell_a_cable_from_its_partner():
    tree = tree_of(2 * PORTS, 1)
    nodes = [n for ns in tree.leaves.values() for n in ns]
    cable = tree.cables()[5]
    findings = localise_cables(tree, verdicts_with(tree, {cable}), nodes)
    assert {(f.kind, f.node, f.peer) for f in findings} == {
        (LINK, "leaf0", "spine0"),
        (LINK, "leaf1", "spine0"),
    }


def test_a_dead_spine_is_named_once():
    tree = tree_of(4 * PORTS, 2)
    nodes = [n for ns in tree.leaves.values() for n in ns]
    dead = {c for c in tree.cables() if c[1] == "spine1"}
    findings = localise_cables(tree, verdicts_with(tree, dead), nodes)
    assert [(f.kind, f.rail) for f in findings] == [(AMBIGUOUS, "rail0")]
    assert "spine spine1" in findings[0].evidence


def test_a_failing_stream_of_a_bad_node_names_no_cable():
    tree = tree_of(2 * PORTS, 1)
    verdicts = verdicts_with(tree, {tree.cables()[3]})
    good = [n for ns in tree.leaves.values() for n in ns if n not in verdicts[3].pair]
    assert all(
        f.kind != LINK or f.node != tree.cables()[3][0]
        for f in localise_cables(tree, verdicts, good)
    )


def test_generated_inventory_is_a_fat_tree_the_rounds_cover(tmp_path):
    inv = inventory_for(tmp_path, 100, 1)
    found = trees(inv)
    assert [t.rail for t in found] == [r.name for r in inv.rails]
    tree = found[0]
    assert {len(s) for s in tree.spines.values()} == {2}
    rounds = topology_rounds(tree)
    assert len(rounds) == 2  # four leaves
    used = Counter(c.direction for c in loads(tree, rounds))
    # leaf3 has 4 nodes: of the 4 × 32 cables, 28 + 28 lack their stream one way.
    assert used[UP] == used[DOWN] == 32 + 32 + 4 + 4
    assert trees(inventory_for(tmp_path, 32, 1)) == []  # one switch a rail: no spines
    assert Cable("leaf0", "spine0", 0, DOWN).physical == ("leaf0", "spine0", 0)


def test_one_failing_stream_no_cable_explains_is_ambiguous():
    tree = tree_of(4 * PORTS, 2)
    nodes = [n for ns in tree.leaves.values() for n in ns]
    verdicts = verdicts_with(tree, set())
    one = verdicts[7]
    verdicts[7] = IbVerdict(
        one.round, one.node_a, one.node_b, one.rail, "mlx5_0", "mlx5_0", 250.0, 360.0, False
    )
    findings = localise_cables(tree, verdicts, nodes)
    assert [(f.kind, set(f.nodes)) for f in findings] == [(AMBIGUOUS, {one.node_a, one.node_b})]
    assert "250.00 Gb/s" in findings[0].evidence


def _row(rows, rail, switch):
    return next(
        (r["streams"], r["failed"]) for r in rows if (r["rail"], r["switch"]) == (rail, switch)
    )


@pytest.mark.parametrize("leaves,spines", [(3, 2), (4, 2), (7, 4)])
def test_fabric_loads_count_streams_per_switch_and_name_the_bad_uplink(leaves, spines):
    tree = tree_of(leaves * PORTS, spines)
    cable = tree.cables()[len(tree.cables()) // 2]
    verdicts = verdicts_with(tree, {cable})
    block = fabric_loads([tree], verdicts)
    assert block is not None
    # Every cross-leaf stream crosses two leaves and one spine; the topology rounds are all so.
    assert sum(r["streams"] for r in block["leaves"]) == 2 * len(verdicts)
    assert sum(r["streams"] for r in block["spines"]) == len(verdicts)
    assert {(r["rail"], r["switch"]) for r in block["spines"]} == {
        ("rail0", f"spine{s}") for s in range(spines)
    }
    # The bad cable's two streams, and only they, fail: on its leaf, its spine, and the cable.
    assert _row(block["spines"], "rail0", cable[1])[1] == 2
    assert sum(r["failed"] for r in block["spines"]) == 2
    assert _row(block["leaves"], "rail0", cable[0])[1] == 2
    # Each failing stream also crosses a good cable at its other end, once: the bad one leads.
    first, *rest = block["uplinks"]
    assert (first["leaf"], first["spine"], first["cable"], first["failed"]) == (*cable, 2)
    assert rest and all(u["failed"] == 1 for u in rest)
    assert block["uplinks_failed"] == len(block["uplinks"]) <= 3


def test_fabric_loads_count_a_stream_within_one_leaf_once_there_and_need_a_tree():
    tree = tree_of(2 * PORTS, 2)
    a, b = tree.leaves["leaf0"][:2]
    v = IbVerdict(1, a, b, "rail0", "mlx5_0", "mlx5_0", 100.0, 360.0, False)
    block = fabric_loads([tree], [v])
    assert block is not None
    assert _row(block["leaves"], "rail0", "leaf0") == (1, 1)
    assert _row(block["leaves"], "rail0", "leaf1") == (0, 0)
    assert all(r["streams"] == 0 for r in block["spines"]) and block["uplinks"] == []
    assert fabric_loads([], [v]) is None
