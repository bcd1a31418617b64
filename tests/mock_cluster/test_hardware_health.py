"""The hardware health checks on the live mock cluster: a clean node passes at every level; each
fault kind of `lab/fault` is named by `trainbed check` with node, device and cause, once, and
nothing else fails; `fault clear` restores a clean pass.

Few runs: the faults go onto different GPUs and HCAs of one node at once, and the run is limited
to that node.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.junit_schema import schema_problems
from tests.mock_cluster.conftest import Check, CheckRun, DeployRun, fault, hosts, variant
from trainbed.checks.junit import read_warnings
from trainbed.inventory.model import LEVELS

pytestmark = pytest.mark.mock

#: PCI buses of the XE9680's GPUs 0..7, as the lab describes them (lab/hardware.py).
BUSES = ("19", "3B", "4C", "5D", "9B", "BB", "CB", "DB")
#: The checks this issue adds; a clean node passes each of them.
HEALTH_CHECKS = {
    "test_gpu_xids",
    "test_gpu_memory_errors",
    "test_gpu_clocks",
    "test_nvlink",
    "test_dcgm_diag",
    "test_pcie_links",
    "test_pcie_acs",
    "test_gpu_hca_topology",
    "test_ib_link_errors",
}


def gpu(index: int) -> str:
    return f"GPU {index} (00000000:{BUSES[index]}:00.0)"


#: (fault words, the check that names it, what its line says after the node name) — one fault
#: kind each, each on its own GPU or HCA.
FAULTS: list[tuple[tuple[str, ...], str, str]] = [
    (
        ("gpu", "0", "xid", "79"),
        "test_gpu_xids",
        f"{gpu(0)} XID: expected no critical XID in 24 h, got XID 79 at ",
    ),
    (
        ("gpu", "1", "remap", "pending"),
        "test_gpu_memory_errors",
        f"{gpu(1)} row remapping: expected none pending (reset applies it), got pending",
    ),
    (
        ("gpu", "2", "ecc", "uncorrectable"),
        "test_gpu_memory_errors",
        f"{gpu(2)} uncorrectable ECC errors: expected 0, got volatile DRAM 1, aggregate DRAM 1",
    ),
    (
        ("gpu", "3", "nvlink", "5", "down"),
        "test_nvlink",
        "GPU 3 NVLink: expected 18 links active at 26.562 GB/s, got link 5 inactive",
    ),
    (
        ("gpu", "4", "pcie", "x8"),
        "test_pcie_links",
        f"{gpu(4)} PCIe link: expected 32GT/s x16, got 32GT/s x8 (downgraded)",
    ),
    (
        ("gpu", "5", "pcie", "gen4"),
        "test_pcie_links",
        f"{gpu(5)} PCIe link: expected 32GT/s x16, got 16GT/s x16 (downgraded)",
    ),
    (
        ("gpu", "6", "acs", "on"),
        "test_pcie_acs",
        f"{gpu(6)} ↔ mlx5_10 (00000000:CC:00.0) ACS: expected ReqRedir- CmpltRedir- on the "
        "bridges between them, got ReqRedir+ CmpltRedir+ on 00000000:C9:01.0",
    ),
    (
        ("gpu", "1", "dcgm", "memory-fail"),
        "test_dcgm_diag",
        "GPU 1 dcgmi diag -r 2 GPU Memory: expected Pass, got Fail (GPU 1 Found 1 faulty memory",
    ),
    (
        ("hca", "mlx5_0", "pcie", "x8"),
        "test_pcie_links",
        "mlx5_0 (00000000:1A:00.0) PCIe link: expected 32GT/s x16, got 32GT/s x8 (downgraded)",
    ),
    (
        ("hca", "mlx5_3", "pcie", "gen4"),
        "test_pcie_links",
        "mlx5_3 (00000000:3C:00.0) PCIe link: expected 32GT/s x16, got 16GT/s x16 (downgraded)",
    ),
    (
        ("hca", "mlx5_4", "symbol-errors"),
        "test_ib_link_errors",
        "mlx5_4 port 1 SymbolErrorCounter: expected growth <= 0 in ",
    ),
    (
        ("hca", "mlx5_4", "symbol-errors"),  # the same fault: link error recoveries grow too
        "test_ib_link_errors",
        "mlx5_4 port 1 LinkErrorRecoveryCounter: expected growth <= 0 in ",
    ),
    (
        ("hca", "mlx5_5", "flap"),
        "test_ib_link_errors",
        "mlx5_5 port 1 link flaps (LinkDownedCounter): expected <= 0 in ",
    ),
]
#: Faults that warn and never fail: (words, what the warning says after the node name).
WARNINGS: list[tuple[tuple[str, ...], str]] = [
    (("gpu", "0", "xid", "31"), f"{gpu(0)} XID: expected no XID in 24 h, got XID 31 at "),
    (
        ("gpu", "7", "clocks", "power-brake"),
        f"{gpu(7)} clock event reasons: expected no HW slowdown, thermal or power brake active, "
        "got HW Slowdown, HW Power Brake Slowdown",
    ),
]


@pytest.fixture(scope="module")
def node(cluster: dict[str, Any]) -> str:
    return hosts(cluster, "compute")[-1]


@pytest.fixture
def cleared(cluster: dict[str, Any], node: str) -> Iterator[None]:
    """The node's faults are cleared afterwards, whatever the test did."""
    yield
    fault(cluster, node, "clear")


def lines(run: CheckRun, check: str) -> list[str]:
    """Every problem line of the failed `check` cases."""
    return [line for r in run.failures() if r.check == check for line in r.message.split("; ")]


def warnings(run: CheckRun) -> list[str]:
    return read_warnings(run.junit)


def assert_clean(run: CheckRun, node: str, level: str) -> None:
    assert run.returncode == 0, run.output[-3000:]
    passed = {r.check for r in run.results if r.outcome == "passed" and r.node == node}
    assert passed >= HEALTH_CHECKS, (level, HEALTH_CHECKS - passed)
    assert warnings(run) == [], warnings(run)


def test_a_clean_node_passes_at_every_level(deployed: DeployRun, check: Check, node: str) -> None:
    for level in LEVELS:
        run = check("--limit", node, "--level", level)
        assert_clean(run, node, level)
        nvbandwidth = next(r for r in run.results if r.check == "test_nvbandwidth")
        assert nvbandwidth.outcome == ("passed" if level == "burn-in" else "skipped"), level


def test_each_fault_is_named_once_and_clear_restores(
    deployed: DeployRun, check: Check, cluster: dict[str, Any], node: str, cleared: None
) -> None:
    for words in dict.fromkeys(words for words, *_ in FAULTS):
        fault(cluster, node, *words)
    for words, _ in WARNINGS:
        fault(cluster, node, *words)
    run = check("--limit", node, "--level", "standard")
    assert run.returncode == 1, run.output[-3000:]
    assert run.failed_nodes() == {node}
    assert {r.check for r in run.failures()} == {c for _, c, _ in FAULTS}
    for words, check_name, says in FAULTS:
        found = [line for line in lines(run, check_name) if line.startswith(f"{node} {says}")]
        assert len(found) == 1, (words, lines(run, check_name))
    assert sum(len(r.message.split("; ")) for r in run.failures()) == len(FAULTS), [
        r.message for r in run.failures()
    ]
    for words, says in WARNINGS:
        assert sum(w.startswith(f"{node} {says}") for w in warnings(run)) == 1, (
            words,
            warnings(run),
        )
    assert len(warnings(run)) == len(WARNINGS)
    row = next(line for line in run.output.splitlines() if line.startswith(node + " "))
    assert row.split()[3] == str(len(run.failures())) and row.split()[6] == str(len(WARNINGS))
    assert schema_problems(ET.parse(run.junit).getroot()) == []

    fault(cluster, node, "clear")
    assert_clean(check("--limit", node), node, "quick")


def test_a_hanging_dcgm_could_not_run(
    deployed: DeployRun,
    check: Check,
    cluster: dict[str, Any],
    node: str,
    cleared: None,
    tmp_path: Path,
) -> None:
    """dcgmi diag never answers: the check's timeout fires and it could not run; no GPU fault."""
    fault(cluster, node, "dcgm", "hang")

    def short(doc: dict) -> None:
        # Only the DCGM timeout changes: the rest of `health:` (and so the node's catalog) stays.
        doc.setdefault("health", {})["thresholds"] = {"dcgm_timeout_s": {"quick": 3}}

    run = check("--limit", node, inventory=variant(cluster, tmp_path, short))
    assert run.returncode == 2, run.output[-3000:]  # nothing failed, but no verdict is no pass
    (dcgm,) = [r for r in run.results if r.check == "test_dcgm_diag"]
    assert (dcgm.outcome, dcgm.message) == (
        "skipped",
        f"could not run: {node} dcgmi diag -r 1: `dcgmi diag -r 1` did not answer within 3 s",
    )
    assert f"could not run: {node} dcgmi diag -r 1" in run.output
