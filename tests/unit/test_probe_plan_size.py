"""`trainbed probe plan` at the size of what it runs: rounds counted, not N(N-1)/2 pairs listed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from trainbed.cli import main
from trainbed.hostlist import expand_hostlist
from trainbed.inventory.generate import dump_inventory, generate_inventory
from trainbed.probes.schedule import iter_rounds, nccl_groups, pair_rounds, schedule_summary

SIZES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 33]


def _nodes(n: int) -> list[str]:
    return [f"gpu{i:02d}" for i in range(1, n + 1)]


@pytest.mark.parametrize("n", SIZES)
def test_rounds_one_at_a_time_are_the_schedules(n: int) -> None:
    assert list(iter_rounds(_nodes(n))) == pair_rounds(_nodes(n))


@pytest.mark.parametrize("n", SIZES)
def test_cut_rounds_are_their_first_pairs(n: int) -> None:
    full = pair_rounds(_nodes(n))
    assert list(iter_rounds(_nodes(n), 2)) == [rnd[:2] for rnd in full]


def test_rounds_keep_an_unsorted_order() -> None:
    nodes = ["b3", "a1", "c2", "a10", "x"]
    assert list(iter_rounds(nodes)) == pair_rounds(nodes)


@pytest.mark.parametrize("n", SIZES)
def test_summary_counts_what_the_schedule_lists(n: int) -> None:
    nodes = _nodes(n)
    summary = schedule_summary(nodes, ["rail0", "rail1"])
    ib = summary["ib_write_bw"]
    rounds = pair_rounds(nodes)
    assert ib["round_count"] == len(rounds)
    assert ib["pairs"] == sum(len(r) for r in rounds)
    assert all(len(r) == ib["pairs_per_round"] for r in rounds)
    assert ib["rails"] == ["rail0", "rail1"]
    listed = [expand_hostlist(r["nodes"]) if n else [] for r in summary["nccl"]]
    assert listed == [g["nodes"] for g in nccl_groups(nodes)]
    assert [r["node_count"] for r in summary["nccl"]] == [len(g) for g in listed]


def test_summary_keeps_an_order_a_hostlist_would_change() -> None:
    nodes = ["gpu02", "gpu01", "gpu03"]
    summary = schedule_summary(nodes, ["rail0"])
    assert summary["ib_write_bw"]["nodes"] == nodes
    assert summary["nccl"][-1]["nodes"] == nodes


def _plan_size(tmp_path: Path, n: int, *options: str) -> int:
    path = tmp_path / f"inv{n}.yaml"
    path.write_text(dump_inventory(generate_inventory(n, 1)))
    result = CliRunner().invoke(main, ["probe", "plan", str(path), *options])
    assert result.exit_code == 0, result.output
    if "--json" in options:
        json.loads(result.output)
    return len(result.output)


@pytest.mark.parametrize("options", [("--json",), ()])
def test_the_plan_grows_with_the_rounds(tmp_path: Path, options: tuple[str, ...]) -> None:
    small, large = _plan_size(tmp_path, 32, *options), _plan_size(tmp_path, 128, *options)
    assert large / small < 4 * 1.5  # 4× the nodes, 4× the rounds; all pairs would be ~16×


def test_pairs_lists_every_pair(tmp_path: Path) -> None:
    small, large = _plan_size(tmp_path, 32, "--pairs"), _plan_size(tmp_path, 128, "--pairs")
    assert large / small > 12
