"""Probe schedule: round-robin pair rounds and NCCL groups."""

from __future__ import annotations

import itertools
import json

import pytest

from trainbed.probes.schedule import build_schedule, nccl_groups, pair_rounds


def _nodes(n: int) -> list[str]:
    return [f"gpu{i:02d}" for i in range(1, n + 1)]


@pytest.mark.parametrize("n", range(2, 65))
def test_pair_rounds_cover_every_pair_once_in_fewest_rounds(n: int) -> None:
    nodes = _nodes(n)
    rounds = pair_rounds(nodes)

    assert len(rounds) == (n - 1 if n % 2 == 0 else n)
    seen = [frozenset(pair) for rnd in rounds for pair in rnd]
    assert len(seen) == len(set(seen))
    assert set(seen) == {frozenset(p) for p in itertools.combinations(nodes, 2)}
    for rnd in rounds:
        in_round = [node for pair in rnd for node in pair]
        assert len(in_round) == len(set(in_round)), "a node runs twice in one round"
        assert len(rnd) == n // 2
        for a, b in rnd:
            assert a != b
            assert nodes.index(a) < nodes.index(b)


@pytest.mark.parametrize("n", [3, 5, 7, 63])
def test_odd_n_each_node_sits_out_exactly_once(n: int) -> None:
    nodes = _nodes(n)
    idle = [set(nodes) - {x for pair in rnd for x in pair} for rnd in pair_rounds(nodes)]
    assert all(len(s) == 1 for s in idle)
    assert set().union(*idle) == set(nodes)


@pytest.mark.parametrize("nodes", [[], ["solo"]])
def test_pair_rounds_fewer_than_two_nodes(nodes: list[str]) -> None:
    assert pair_rounds(nodes) == []


def test_pair_rounds_deterministic_and_order_dependent() -> None:
    nodes = _nodes(8)
    assert pair_rounds(nodes) == pair_rounds(list(nodes))
    assert pair_rounds(nodes)[0] != pair_rounds(list(reversed(nodes)))[0]


def test_pair_rounds_two_and_four_nodes() -> None:
    assert pair_rounds(["a", "b"]) == [[("a", "b")]]
    assert pair_rounds(["a", "b", "c", "d"]) == [
        [("a", "d"), ("b", "c")],
        [("a", "c"), ("b", "d")],
        [("a", "b"), ("c", "d")],
    ]


def test_duplicate_nodes_rejected() -> None:
    with pytest.raises(ValueError, match="more than once"):
        pair_rounds(["a", "b", "a"])
    with pytest.raises(ValueError, match="more than once"):
        nccl_groups(["a", "a"])


def test_nccl_groups_six_nodes() -> None:
    nodes = _nodes(6)
    groups = nccl_groups(nodes)
    names = [g["name"] for g in groups]
    assert names == [
        *(f"single-{n}" for n in nodes),
        "pair-1",
        "pair-2",
        "pair-3",
        "group4-1",
        "all",
    ]
    by_name = {g["name"]: g for g in groups}
    assert by_name["pair-2"]["nodes"] == ["gpu03", "gpu04"]
    assert by_name["group4-1"]["nodes"] == nodes[:4]  # gpu05, gpu06 dropped at size 4
    assert by_name["all"]["nodes"] == nodes
    assert by_name["single-gpu01"] == {"name": "single-gpu01", "nodes": ["gpu01"], "kind": "single"}
    for g in groups:
        if len(g["nodes"]) > 1:
            assert g["env"] == {"NCCL_ALGO": "Ring"}
        else:
            assert "env" not in g


@pytest.mark.parametrize("n", range(0, 40))
def test_nccl_groups_sizes(n: int) -> None:
    nodes = _nodes(n)
    groups = nccl_groups(nodes)
    sizes = sorted({len(g["nodes"]) for g in groups})
    expected = set()
    if n:
        expected.add(1)
        size = 2
        while size <= n:
            expected.add(size)
            size *= 2
        if n >= 2:
            expected.add(n)
    assert sizes == sorted(expected)
    for size in expected - {1, n}:
        at_size = [g["nodes"] for g in groups if len(g["nodes"]) == size]
        assert len(at_size) == n // size
        flat = [x for grp in at_size for x in grp]
        assert flat == nodes[: len(flat)], "groups are consecutive and disjoint"
    assert len({g["name"] for g in groups}) == len(groups)
    if n >= 2:
        assert groups[-1]["name"] == "all"


def test_nccl_groups_power_of_two_has_single_all_group() -> None:
    groups = nccl_groups(_nodes(8))
    full = [g for g in groups if len(g["nodes"]) == 8]
    assert [g["name"] for g in full] == ["all"]
    assert [g["name"] for g in groups if g["kind"] == "group"] == ["group4-1", "group4-2"]


def test_build_schedule_shape_is_json() -> None:
    nodes = _nodes(5)
    rails = [f"mlx5_{i}" for i in range(8)]
    plan = build_schedule(nodes, rails)

    assert set(plan) == {"ib_write_bw", "nccl"}
    assert plan["ib_write_bw"]["rails"] == rails
    rounds = plan["ib_write_bw"]["rounds"]
    assert len(rounds) == 5
    for rnd in rounds:
        assert all(isinstance(pair, list) and len(pair) == 2 for pair in rnd)
    for group in plan["nccl"]:
        assert isinstance(group["name"], str)
        assert all(isinstance(x, str) for x in group["nodes"])
    assert json.loads(json.dumps(plan)) == plan


def test_build_schedule_one_node() -> None:
    plan = build_schedule(["gpu01"], ["mlx5_0"])
    assert plan["ib_write_bw"]["rounds"] == []
    assert [g["name"] for g in plan["nccl"]] == ["single-gpu01"]
