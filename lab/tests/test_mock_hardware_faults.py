"""Each health fault kind changes exactly what it should in a node's description (pure functions,
as a table: words -> the paths that change and their new values)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lab import fault, hardware, inventory
from lab.config import REPO_ROOT

NOW = 1_700_000_000.0


def _description() -> dict[str, Any]:
    inv = inventory.load(REPO_ROOT / "inventory/mock.yaml")
    node = next(n for n in inventory.nodes(inv) if n.kind == "compute")
    return hardware.describe(inv, node)


def _flat(value: Any, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], Any]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flat(item, (*path, key)).items()}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return {k: v for i, item in enumerate(value) for k, v in _flat(item, (*path, i)).items()}
    return {path: value}


def _changes(words: list[str]) -> tuple[dict[tuple[Any, ...], Any], list[str]]:
    before = _description()
    after, actions = fault.apply(copy.deepcopy(before), words, now=NOW)
    old, new = _flat(before), _flat(after)
    changed = {p: new.get(p) for p in old.keys() | new.keys() if old.get(p) != new.get(p)}
    return changed, actions


# mlx5_4 is HCA 2 in the mock inventory's order.
FAULTS: list[tuple[str, dict[tuple[Any, ...], Any]]] = [
    ("gpu 3 remap pending", {("gpus", 3, "remapped_rows", "pending"): True}),
    (
        "gpu 2 ecc uncorrectable",
        {
            ("gpus", 2, "ecc", "volatile", "dram_uncorrectable"): 1,
            ("gpus", 2, "ecc", "aggregate", "dram_uncorrectable"): 1,
        },
    ),
    ("gpu 1 nvlink 7 down", {("gpus", 1, "nvlink", "inactive"): [7]}),
    ("gpu 5 pcie x8", {("gpus", 5, "pcie", "width"): 8}),
    ("gpu 5 pcie gen4", {("gpus", 5, "pcie", "gen"): 4}),
    ("hca mlx5_4 pcie x8", {("hcas", 2, "pcie", "width"): 8}),
    ("hca mlx5_4 pcie gen4", {("hcas", 2, "pcie", "gen"): 4}),
    (
        "hca mlx5_4 symbol-errors",
        {
            ("hcas", 2, "growth", "since"): NOW,
            ("hcas", 2, "growth", "per_s", "SymbolErrorCounter"): 50.0,
            ("hcas", 2, "growth", "per_s", "LinkErrorRecoveryCounter"): 0.5,
        },
    ),
    (
        "hca mlx5_4 flap",
        {
            ("hcas", 2, "growth", "since"): NOW,
            ("hcas", 2, "growth", "per_s", "LinkDownedCounter"): 0.5,
        },
    ),
    ("hca mlx5_4 rail 5", {("hcas", 2, "rail"): "rail5"}),
    ("hca mlx5_4 rail rail7", {("hcas", 2, "rail"): "rail7"}),
    ("hca mlx5_4 slow 5", {("hcas", 2, "bandwidth_factor"): 0.95}),
    (
        "hca mlx5_4 port ib-rail3 7",
        {("hcas", 2, "switch"): "ib-rail3", ("hcas", 2, "switch_port"): 7},
    ),
    ("gpu 6 dcgm memory-fail", {("gpus", 6, "dcgm", "memory_fail"): True}),
    ("gpu 4 acs on", {("gpus", 4, "pcie", "switch_port_acs"): True}),
    ("dcgm hang", {("dcgm", "hang"): True}),
    (
        "gpu 0 clocks power-brake",
        {
            ("gpus", 0, "clocks_event_reasons", "hw_slowdown"): True,
            ("gpus", 0, "clocks_event_reasons", "hw_power_brake_slowdown"): True,
        },
    ),
]


@pytest.mark.parametrize(
    "words",
    [
        "hca mlx5_4 rail four",
        "hca mlx5_4 slow 0",
        "hca x rail 1",
        "hca mlx5_4 port ib-rail2 0",
        "hca mlx5_4 port ib-rail2 seven",
    ],
)
def test_bad_cabling_and_slow_faults_are_refused(words: str) -> None:
    with pytest.raises((ValueError, KeyError)):
        fault.apply(_description(), words.split(), now=NOW)


@pytest.mark.parametrize(("words", "expected"), FAULTS, ids=[w for w, _ in FAULTS])
def test_fault_changes_exactly(words: str, expected: dict[tuple[Any, ...], Any]) -> None:
    changed, actions = _changes(words.split())
    assert changed == expected
    assert actions == []


def test_xid_fault_only_writes_the_journal() -> None:
    changed, actions = _changes(["gpu", "4", "xid", "79"])
    assert changed == {}
    assert actions == [
        "journal:NVRM: Xid (PCI:0000:9b:00): 79, pid=1234, name=python3, GPU has fallen off the bus."
    ]


def test_a_healthy_description_has_no_fault() -> None:
    hw = _description()
    for gpu in hw["gpus"]:
        assert gpu["pcie"] | {} == {**gpu["pcie"], **hardware.GEN5_X16}
        assert not gpu["pcie"]["switch_port_acs"] and gpu["nvlink"]["inactive"] == []
        assert not any(gpu["clocks_event_reasons"].values())
        assert not gpu["remapped_rows"]["pending"] and not gpu["dcgm"]["memory_fail"]
        assert all(v == 0 for kind in gpu["ecc"].values() for v in kind.values())
        assert gpu["nvlink"]["links"] == 18 and gpu["nvlink"]["speed_gbs"] == 26.562
    for hca in hw["hcas"]:
        assert hca["pcie"]["width"] == 16 and hca["pcie"]["gen"] == 5
        assert set(hca["counters"].values()) == {0} and "growth" not in hca
    assert hw["dcgm"] == {"hang": False}


def test_each_hca_shares_the_switch_of_its_nearest_gpu() -> None:
    hw = _description()
    gpus = {g["index"]: g for g in hw["gpus"]}
    for hca in hw["hcas"]:
        gpu = gpus[hca["nearest_gpu"]]
        assert hca["pcie"]["switch_upstream"] == gpu["pcie"]["switch_upstream"]
        assert hca["pcie"]["switch_port"] != gpu["pcie"]["switch_port"]
    # the first GPU's subtree is the real XE9680 sample's: 15:01.0 -> 16:00.0 -> 17:01.0 -> 19:00.0
    assert [gpus[0]["pcie"][k] for k in ("root_port", "switch_upstream", "switch_port")] == [
        "15:01.0",
        "16:00.0",
        "17:01.0",
    ]
    assert hw["hcas"][0]["pcie"]["bus_id"] == "0000:1a:00.0"


@pytest.mark.parametrize(
    ("words", "device", "counter", "after_s", "value"),
    [
        ("hca mlx5_4 symbol-errors", "mlx5_4", "SymbolErrorCounter", 10.0, 500),
        ("hca mlx5_4 symbol-errors", "mlx5_4", "LinkErrorRecoveryCounter", 10.0, 5),
        ("hca mlx5_4 symbol-errors", "mlx5_4", "LinkDownedCounter", 10.0, 0),
        ("hca mlx5_4 flap", "mlx5_4", "LinkDownedCounter", 10.0, 5),
        ("hca mlx5_4 flap", "mlx5_4", "SymbolErrorCounter", 10.0, 0),
        ("hca mlx5_4 flap", "mlx5_4", "LinkDownedCounter", 10_000.0, 255),  # 8-bit: saturates
        ("hca mlx5_4 flap", "mlx5_0", "LinkDownedCounter", 10.0, 0),  # another port
    ],
)
def test_counters_grow_from_the_injection(
    words: str, device: str, counter: str, after_s: float, value: int
) -> None:
    hw, _ = fault.apply(_description(), words.split(), now=NOW)
    port = next(h for h in hw["hcas"] if h["device"] == device)
    assert hardware.counter_value(port, counter, NOW) == 0
    assert hardware.counter_value(port, counter, NOW + after_s) == value


def test_a_second_growth_fault_keeps_the_counts_so_far() -> None:
    hw, _ = fault.apply(_description(), ["hca", "mlx5_4", "symbol-errors"], now=NOW)
    hw, _ = fault.apply(hw, ["hca", "mlx5_4", "flap"], now=NOW + 10)
    hca = hw["hcas"][2]
    assert hca["counters"]["SymbolErrorCounter"] == 500
    assert hardware.counter_value(hca, "SymbolErrorCounter", NOW + 20) == 1000
    assert hardware.counter_value(hca, "LinkDownedCounter", NOW + 20) == 5


@pytest.mark.parametrize(
    "words",
    [
        "gpu 9 remap pending",
        "gpu 0 nvlink 18 down",
        "gpu 0 pcie x4",
        "hca mlx5_99 flap",
        "gpu 8 xid 79",
        "gpu 0 acs off",
    ],
)
def test_bad_fault_words_are_refused(words: str) -> None:
    with pytest.raises((KeyError, ValueError)):
        fault.apply(_description(), words.split(), now=NOW)
