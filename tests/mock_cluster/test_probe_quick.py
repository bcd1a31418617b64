"""`trainbed probe --mode quick` on the live mock cluster: a degraded HCA in at most three rounds,
a drained node reported not measured while the rest is judged, and quick against full wall time.

Needs four compute nodes or more: the main mock cluster brought up with ``lab/up --compute 4``,
or the three-control-plane one, which tests/run brings up with four.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.mock_cluster.conftest import ENV_HA, Check, Ssh, check_runner, hosts, ssh_runner
from tests.mock_cluster.test_probe import REPO, _hca, fault, probe_inventory, run_probe
from trainbed.probes.matching import MAX_ROUNDS

pytestmark = [pytest.mark.mock, pytest.mark.ha]


#: Compute nodes the tests need: with fewer one round cannot place a fault by itself.
NEEDED = 4


@pytest.fixture(scope="module")
def quick_cluster(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The deployed cluster with four compute nodes or more: the three-control-plane one when it is
    up (tests/run brings it up so, and runs these tests beside the main cluster's, hence the `ha`
    mark), else the main one when it was brought up so (`lab/up --compute 4`)."""
    if os.environ.get(ENV_HA):
        ha = request.getfixturevalue("ha_cluster")
        if len(hosts(ha, "compute")) >= NEEDED:
            request.getfixturevalue("ha_deployed")
            return ha
    main = request.getfixturevalue("cluster")
    if len(hosts(main, "compute")) >= NEEDED:
        request.getfixturevalue("deployed")
        return main
    pytest.skip(f"quick-mode tests need {NEEDED} compute nodes (lab/up --compute {NEEDED})")


@pytest.fixture(scope="module")
def quick_ssh(quick_cluster: dict[str, Any]) -> Ssh:
    return ssh_runner(quick_cluster)


@pytest.fixture(scope="module")
def quick_check(quick_cluster: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Check:
    names = hosts(quick_cluster, "control") + hosts(quick_cluster, "compute")
    return check_runner(quick_cluster, names, tmp_path_factory.mktemp("check"))


@pytest.fixture(scope="module")
def inventory(quick_cluster: dict[str, Any]) -> Iterator[Path]:
    cluster = quick_cluster
    path = probe_inventory(cluster, "quick")
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture
def compute(quick_cluster: dict[str, Any]) -> Iterator[list[str]]:
    cluster = quick_cluster
    nodes = hosts(cluster, "compute")
    yield nodes
    for node in nodes:
        fault(cluster, node, "clear")


def _ib_rounds(results: dict[str, Any]) -> int:
    return len([r for r in results["schedule"]["ib_write_bw"]["rounds"] if r])


def test_quick_mode_names_a_degraded_hca_in_three_rounds(
    quick_cluster: dict[str, Any], inventory: Path, compute: list[str], tmp_path: Path
) -> None:
    cluster = quick_cluster
    node = compute[2]
    device, rail = _hca(cluster, node, "mlx5_4")
    fault(cluster, node, "hca", device, "rate", "200")
    code, output, results = run_probe(inventory, tmp_path / "out", "--mode", "quick")
    assert code == 1, output[-3000:]
    found = [(f["kind"], f["node"], f["hca"], f["rail"]) for f in results["findings"]]
    assert found == [("hca", node, device, rail)], results["findings"]
    assert 2 <= _ib_rounds(results) <= MAX_ROUNDS


def test_quick_mode_names_an_hca_with_a_slow_latency_tail(
    quick_cluster: dict[str, Any], inventory: Path, compute: list[str], tmp_path: Path
) -> None:
    """ib_write_lat through one HCA reads 5 µs higher (p99 over imbue's 4.2 µs bar) while its
    bandwidth is at line rate: named as that HCA, by its latency, in ≤ 3 rounds."""
    cluster = quick_cluster
    node = compute[2]
    device, rail = _hca(cluster, node, "mlx5_4")
    fault(cluster, node, "hca", device, "latency", "5")
    code, output, results = run_probe(inventory, tmp_path / "out", "--mode", "quick")
    assert code == 1, output[-3000:]
    found = [(f["kind"], f["node"], f["hca"], f["rail"]) for f in results["findings"]]
    assert found == [("hca", node, device, rail)], results["findings"]
    assert "over the 4.2 µs ib_write_lat p99 bar" in results["findings"][0]["evidence"]
    failed = [v for v in results["ib_write_bw"] if not v["passed"]]
    assert failed and all(v["gbps"] >= v["threshold_gbps"] for v in failed)
    assert all(v["lat_p99_us"] > 4.2 and node in v["reason"] for v in failed)
    healthy = [v for v in results["ib_write_bw"] if v["passed"]]
    assert healthy and all(v["lat_passed"] and v["lat_p99_us"] < 4.2 for v in healthy)
    assert 2 <= _ib_rounds(results) <= MAX_ROUNDS


def _other_rail(rail: str) -> str:
    """The next rail of the mock's eight (rail3 → rail4)."""
    return f"rail{(int(rail.removeprefix('rail')) + 1) % 8}"


def test_quick_mode_names_a_miscabled_hca_as_cabling(
    quick_cluster: dict[str, Any], inventory: Path, compute: list[str], tmp_path: Path
) -> None:
    """An HCA cabled to the next rail's fabric: named as cabling (from the master SM its sminfo
    sees), not as a degraded HCA of its node nor of its partners."""
    cluster = quick_cluster
    node = compute[1]
    device, rail = _hca(cluster, node, "mlx5_3")
    wrong = _other_rail(rail)
    fault(cluster, node, "hca", device, "rail", wrong)
    code, output, results = run_probe(inventory, tmp_path / "out", "--mode", "quick")
    assert code == 1, output[-3000:]
    found = [(f["kind"], f["node"], f["hca"], f["rail"]) for f in results["findings"]]
    assert found == [("cabling", node, device, rail)], results["findings"]
    evidence = results["findings"][0]["evidence"]
    assert f"{node} {device} is on {wrong}'s fabric" in evidence
    assert evidence.endswith(f"the inventory says {rail}")
    assert _ib_rounds(results) <= MAX_ROUNDS


def test_check_names_a_miscabled_hca(
    quick_cluster: dict[str, Any], quick_check: Check, compute: list[str]
) -> None:
    """`trainbed check` says the same from the node's own sminfo, and nothing else fails on it."""
    cluster, check = quick_cluster, quick_check
    node = compute[1]
    device, rail = _hca(cluster, node, "mlx5_3")
    wrong = _other_rail(rail)
    fault(cluster, node, "hca", device, "rail", wrong)
    run = check("--limit", node)
    assert run.returncode == 1, run.output[-3000:]
    failed = [(r.check, r.message) for r in run.failures()]
    assert [c for c, _ in failed] == ["test_rail_cabling"], failed
    assert failed[0][1].startswith(f"{node} {device} is on {wrong}'s fabric (master SM 0x")
    assert failed[0][1].endswith(f"the inventory says {rail}")


def test_check_names_an_hca_on_another_leaf_port(
    quick_cluster: dict[str, Any], quick_check: Check, compute: list[str]
) -> None:
    """An HCA recabled to another port of its leaf: `trainbed check` names the port its rail's
    fabric sweep (ibnetdiscover -p from a subnet manager host) sees and the inventory's, and
    nothing else fails on the node."""
    cluster, check = quick_cluster, quick_check
    node = compute[1]
    doc = yaml.safe_load(Path(cluster["inventory"]).read_text())
    hca = next(
        h
        for n in doc["compute"]
        if n["hostname"] == node
        for h in n["hcas"]
        if h["device"] == "mlx5_3"
    )
    leaf = next(
        r["switch"] for r in doc["networks"]["infiniband"]["rails"] if r["name"] == hca["rail"]
    )
    fault(cluster, node, "hca", "mlx5_3", "port", leaf, "60")
    run = check("--limit", node)
    assert run.returncode == 1, run.output[-3000:]
    failed = [(r.check, r.message) for r in run.failures()]
    assert [c for c, _ in failed] == ["test_switch_neighbour"], failed
    assert failed[0][1].startswith(
        f"{node} mlx5_3 is cabled to {leaf} port 60, the inventory says {leaf} port "
        f"{hca['switch_port']} (ibnetdiscover on "
    ), failed


def test_quick_mode_names_a_port_five_percent_slow_against_a_baseline(
    quick_cluster: dict[str, Any], inventory: Path, compute: list[str], tmp_path: Path
) -> None:
    """A clean quick run makes the fleet baseline (`trainbed baseline`); one port 5 % slow then
    passes the absolute bar, is re-paired below the baseline and named severe, in ≤ 3 rounds."""
    cluster = quick_cluster
    code, output, _ = run_probe(inventory, tmp_path / "clean", "--mode", "quick")
    assert code == 0, output[-3000:]
    fleet = tmp_path / "fleet.json"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "trainbed",
            "baseline",
            str(tmp_path / "clean"),
            "--out",
            str(fleet),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    node = compute[2]
    device, rail = _hca(cluster, node, "mlx5_4")
    fault(cluster, node, "hca", device, "slow", "5")
    args = ("--mode", "quick", "--baseline", str(fleet))
    code, output, results = run_probe(inventory, tmp_path / "slow", *args)
    assert all(v["passed"] for v in results["ib_write_bw"]), results["ib_write_bw"]
    assert results["findings"] == [], results["findings"]
    assert code == 1, output[-3000:]  # a severe outlier fails the run
    found = [(f["kind"], f["node"], f["hca"], f["rail"]) for f in results["baseline"]["findings"]]
    assert found == [("hca", node, device, rail)], results["baseline"]
    assert results["baseline"]["findings"][0]["evidence"].startswith("baseline severe")
    assert 2 <= _ib_rounds(results) <= MAX_ROUNDS


def test_quick_mode_with_a_drained_node_completes_and_judges_the_rest(
    quick_ssh: Ssh, inventory: Path, compute: list[str], tmp_path: Path
) -> None:
    ssh = quick_ssh
    drained = compute[-1]
    ssh("cp1", f"scontrol update NodeName={drained} State=DRAIN Reason='quick-mode test'")
    try:
        code, output, results = run_probe(inventory, tmp_path / "out", "--mode", "quick")
    finally:
        ssh("cp1", f"scontrol update NodeName={drained} State=RESUME")
    assert code == 1, output[-3000:]  # not measured is never a pass
    assert [(f["kind"], f["node"]) for f in results["findings"]] == [("not_measured", drained)]
    assert "DRAIN" in results["findings"][0]["evidence"].upper()
    judged = {n for v in results["ib_write_bw"] for n in (v["node_a"], v["node_b"])}
    assert judged == set(compute) - {drained}
    assert all(v["passed"] for v in results["ib_write_bw"])


def test_quick_against_full_wall_time(inventory: Path, compute: list[str], tmp_path: Path) -> None:
    """Side by side on the same cluster; printed for the benchmark record (-s shows it)."""
    took = {}
    for mode in ("quick", "full"):
        start = time.monotonic()
        code, output, results = run_probe(inventory, tmp_path / mode, "--mode", mode)
        took[mode] = (time.monotonic() - start, _ib_rounds(results), len(results["jobs"]))
        assert code == 0, output[-3000:]
        # Latency on every pair and rail of every round, under the bar.
        assert all(v["lat_passed"] and v["lat_p99_us"] < 4.2 for v in results["ib_write_bw"])
    print(
        f"\n{len(compute)} compute nodes: "
        + "; ".join(f"{m} {s:.1f} s, {r} ib round(s), {j} job(s)" for m, (s, r, j) in took.items())
    )
    assert took["quick"][1] == 1  # a clean cluster needs round 1 only
    assert took["quick"][2] < took["full"][2]
