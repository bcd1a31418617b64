"""`trainbed probe` on the live mock cluster: a clean run, injected faults, a job past its limit.

Each test runs the real CLI (paramiko to the submit host, sbatch, squeue/sacct, SFTP) against the
deployed cluster and restores the hardware it faulted. With two compute nodes the ib_write_bw
matrix has a single pair, so a slow port cannot be placed by the matrix alone; the run's own
ibstat facts (read inside the jobs) break that tie, which is what these tests exercise there. With
three nodes or more the matrix decides by itself.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.mock_cluster.conftest import REPO, DeployRun, hosts
from trainbed.inventory import load_inventory
from trainbed.probes.evaluate import hca_on_rail, schedule_for

pytestmark = pytest.mark.mock

FAULT = REPO / "lab" / "fault"


def fault(cluster: dict[str, Any], node: str, *words: str) -> None:
    subprocess.run(
        [str(FAULT), "--state-dir", cluster["state_dir"], node, *words],
        check=True,
        capture_output=True,
        timeout=60,
    )


def probe_inventory(cluster: dict[str, Any], name: str, **probes: Any) -> Path:
    """A variant of the cluster's inventory next to it (relative paths keep working)."""
    source = Path(cluster["inventory"])
    doc = yaml.safe_load(source.read_text())
    doc.setdefault("probes", {}).setdefault("work_dir", "/shared/trainbed-probes")
    doc["probes"].update(probes)
    path = source.with_name(f"probe-{name}.yaml")
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_probe(
    inventory: Path, out: Path, *args: str, timeout: float = 900
) -> tuple[int, str, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "trainbed", "probe", str(inventory), "--out", str(out), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
    )
    results_path = out / "results.json"
    assert results_path.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.returncode, proc.stdout + proc.stderr, json.loads(results_path.read_text())


@pytest.fixture(scope="module")
def inventory(cluster: dict[str, Any], deployed: DeployRun) -> Iterator[Path]:
    path = probe_inventory(cluster, "default")
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture
def compute(cluster: dict[str, Any]) -> Iterator[list[str]]:
    """The compute nodes; every one is cleared of faults afterwards."""
    nodes = hosts(cluster, "compute")
    yield nodes
    for node in nodes:
        fault(cluster, node, "clear")


def _hca(cluster: dict[str, Any], node: str, device: str) -> tuple[str, str]:
    doc = yaml.safe_load(Path(cluster["inventory"]).read_text())
    spec = next(n for n in doc["compute"] if n["hostname"] == node)
    hca = next(h for h in spec["hcas"] if h["device"] == device)
    return hca["device"], hca["rail"]


def test_clean_run_passes(inventory: Path, compute: list[str], tmp_path: Path) -> None:
    code, output, results = run_probe(inventory, tmp_path / "out")
    assert code == 0, output[-3000:]
    assert results["passed"] and results["findings"] == []
    assert all(j["state"] == "COMPLETED" for j in results["jobs"])
    versions = results["versions"]
    assert versions["driver"] and versions["perftest"]
    assert versions["nccl"] and versions["nccl_tests"]
    assert set(versions["nodes"]) == set(compute)
    assert all(all(v["hca_firmware"].values()) for v in versions["nodes"].values())
    for name in ("report.md", "junit.xml", "ib_write_bw_heatmap.png"):
        assert (tmp_path / "out" / name).exists()
    # One archive fetched per job (the facts and outputs above came from them), unpacked whole.
    archives = sorted((tmp_path / "out" / "raw" / "archives").glob("*.tar.gz"))
    assert len(archives) == len(results["jobs"])
    for archive in archives:
        with tarfile.open(archive, "r:gz") as tar:
            assert f"{archive.name.removesuffix('.tar.gz')}.out" in tar.getnames()
    assert "submitted as job" in output and "PASSED" in output


def test_degraded_hca_is_named_and_nothing_else(
    cluster: dict[str, Any], inventory: Path, compute: list[str], tmp_path: Path
) -> None:
    node = compute[1]
    device, rail = _hca(cluster, node, "mlx5_4")
    fault(cluster, node, "hca", device, "rate", "200")
    code, _, results = run_probe(inventory, tmp_path / "out")
    assert code == 1
    findings = results["findings"]
    assert [(f["kind"], f["node"], f["hca"], f["rail"]) for f in findings] == [
        ("hca", node, device, rail)
    ], findings
    report = (tmp_path / "out" / "report.md").read_text()
    assert node in report and device in report
    failing = [v for v in results["ib_write_bw"] if not v["passed"]]
    assert failing and all(v["rail"] == rail for v in failing)


def test_node_with_every_hca_degraded_is_named(
    cluster: dict[str, Any], inventory: Path, compute: list[str], tmp_path: Path
) -> None:
    node = compute[1]
    doc = yaml.safe_load(Path(cluster["inventory"]).read_text())
    devices = [h["device"] for n in doc["compute"] if n["hostname"] == node for h in n["hcas"]]
    for device in devices:
        fault(cluster, node, "hca", device, "rate", "200")
    code, _, results = run_probe(inventory, tmp_path / "out", "--suite", "ib")
    assert code == 1
    assert [(f["kind"], f["node"]) for f in results["findings"]] == [("node", node)]
    # Every measurement with that node fails, every other one passes.
    assert all(
        v["passed"] == (node not in (v["node_a"], v["node_b"])) for v in results["ib_write_bw"]
    )


def test_removed_gpu_fails_that_nodes_single_run(
    cluster: dict[str, Any], inventory: Path, compute: list[str], tmp_path: Path
) -> None:
    node = compute[0]
    fault(cluster, node, "gpu", "5", "remove")
    code, _, results = run_probe(inventory, tmp_path / "out", "--suite", "nccl")
    assert code == 1
    single = {v["name"]: v for v in results["nccl"] if v["kind"] == "single"}
    assert not single[f"single-{node}"]["passed"]
    assert single[f"single-{node}"]["diagnosis"] == "gpu_missing"
    assert all(v["passed"] for name, v in single.items() if name != f"single-{node}")
    assert [(f["kind"], f["node"]) for f in results["findings"]] == [("node", node)]


def _start_probe(inventory: Path, out: Path) -> subprocess.Popen[str]:
    """``trainbed probe INVENTORY --out OUT`` started, its output (stderr too) on a text pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "trainbed", "probe", str(inventory), "--out", str(out)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _container(cluster: dict[str, Any], node: str) -> str:
    return next(n["container"] for n in cluster["nodes"] if n["hostname"] == node)


def test_job_past_its_time_limit_is_reported_and_the_suite_goes_on(
    cluster: dict[str, Any], compute: list[str], deployed: DeployRun, tmp_path: Path
) -> None:
    """A hung ib_write_bw server (stopped with SIGSTOP) keeps its round past a 1-minute limit.

    The client's port is down, so the server of that rail waits for a client; while it waits the
    test stops it, as a wedged process would be. Slurm ends the job at its limit; the run records
    TIMEOUT with the reason and still runs and judges the NCCL jobs after it.
    """
    inventory = probe_inventory(cluster, "timelimit", job_time_limit="1")
    inv = load_inventory(inventory).inventory
    plan = schedule_for(inv)["ib_write_bw"]
    (a, b), rail = plan["rounds"][0][0], plan["rails"][0]
    server_device = hca_on_rail(inv, a, rail)
    fault(cluster, b, "hca", hca_on_rail(inv, b, rail), "down")
    out = tmp_path / "out"
    proc = _start_probe(inventory, out)
    try:
        assert proc.stdout is not None
        stopped = False
        deadline = time.monotonic() + 120
        for line in proc.stdout:
            if not stopped and "round1: job" in line and "RUNNING" in line:
                stopped = _stop_server(cluster, a, server_device, deadline)
            if time.monotonic() > deadline + 600:
                break
        proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
        inventory.unlink(missing_ok=True)
    assert stopped, f"the {rail} server on {a} never showed up to be stopped"
    results = json.loads((out / "results.json").read_text())
    job = next(j for j in results["jobs"] if j["name"] == "round1")
    assert job["state"] == "TIMEOUT" and "time limit" in job["reason"]
    stuck = [
        v for v in results["ib_write_bw"] if (v["node_a"], v["node_b"], v["rail"]) == (a, b, rail)
    ]
    assert len(stuck) == 1 and not stuck[0]["passed"] and "TIMEOUT" in stuck[0]["reason"]
    after = next(j for j in results["jobs"] if j["name"] == "all")
    assert after["state"] == "COMPLETED"
    assert next(v for v in results["nccl"] if v["name"] == "all")["job_id"] == after["job_id"]


def _stop_server(cluster: dict[str, Any], node: str, device: str, deadline: float) -> bool:
    """SIGSTOP the first rail's ib_write_bw server on ``node`` once it is waiting (bounded)."""
    container = _container(cluster, node)
    while time.monotonic() < deadline:
        found = subprocess.run(
            ["docker", "exec", container, "pgrep", "-f", f"ib_write_bw -d {device} -p 18515"],
            capture_output=True,
            text=True,
        )
        pids = found.stdout.split()
        if pids:
            subprocess.run(["docker", "exec", container, "kill", "-STOP", *pids], check=True)
            return True
        time.sleep(0.2)
    return False


def test_training_suite_through_the_probe_command(
    cluster: dict[str, Any], inventory: Path, compute: list[str], tmp_path: Path
) -> None:
    nodes = str(len(compute))
    code, output, results = run_probe(
        inventory, tmp_path / "out", "--suite", "training", "--model", "llama2-7b", "--nodes", nodes
    )
    assert code == 0, output[-3000:]
    (verdict,) = results["training"]
    assert verdict["passed"] and verdict["nodes"] == len(compute)
    for node in compute:
        fault(cluster, node, "training", "slow", "1.2")
    code, output, results = run_probe(
        inventory, tmp_path / "slow", "--suite", "training", "--nodes", nodes
    )
    (verdict,) = results["training"]
    assert code == 1 and not verdict["passed"]
    assert any("slower than expected" in reason for reason in verdict["reasons"]), verdict


# --------------------------------------------------------------------------- issue 11: bound, signals


def _slurmd_back(ssh: Any, node: str) -> None:
    """Start ``node``'s slurmd again and resume it in Slurm (bounded: 120 s).

    A job the lost slurmd never confirmed can keep the node COMPLETING after slurmd is back;
    after 30 s it is cleared the administrator's way (down, then resume).
    """
    ssh(node, "systemctl start slurmd", check=False)
    start = time.monotonic()
    state = ""
    while time.monotonic() < start + 120:
        if state.startswith("completing") and time.monotonic() > start + 30:
            ssh("cp1", f"scontrol update nodename={node} state=down reason=test-cleanup", False)
        ssh("cp1", f"scontrol update nodename={node} state=resume", check=False)
        state = ssh("cp1", f"sinfo -h -n {node} -o %T", check=False).stdout.strip()
        if state in ("idle", "mixed", "allocated"):
            return
        time.sleep(3)
    raise AssertionError(f"{node} did not come back in Slurm: {state!r}")


def _queued(ssh: Any, job_ids: list[str]) -> list[str]:
    """The given jobs that squeue still lists as pending, running, configuring or completing."""
    listed = ssh("cp1", "squeue -h -t PD,R,CF,CG -o %i", check=False).stdout.split()
    return [j for j in job_ids if j in listed]


def _probe_stopping_slurmd(
    cluster: dict[str, Any], ssh: Any, node: str, out: Path, name: str
) -> tuple[int, str, float, int]:
    """Run the probe; stop ``node``'s slurmd once the run has printed its bound (node states
    were read, nothing submitted yet). (exit status, output, seconds to the verdict, bound)."""
    inventory = probe_inventory(cluster, name, job_time_limit="3")
    proc = _start_probe(inventory, out)
    lines: list[str] = []
    bound = 0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if not bound and "bound: verdict within" in line:
                bound = int(line.split("within ")[1].split(" s")[0])
                started = time.monotonic()
                ssh(node, "systemctl stop slurmd")
        proc.wait(timeout=max(bound, 60) + 60)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
        inventory.unlink(missing_ok=True)
    return proc.returncode, "".join(lines), took, bound


def _assert_not_measured(results: dict[str, Any], node: str, output: str) -> None:
    excluded = {e["node"]: e for e in results["excluded"]}
    assert set(excluded) == {node}, results["excluded"]
    state = excluded[node]["state"]
    assert "NOT_RESPONDING" in state or state.startswith("DOWN"), state
    named = [f for f in results["findings"] if f["node"] == node or node in f.get("nodes", [])]
    assert [f["kind"] for f in named] == ["not_measured"], results["findings"]
    assert state in named[0]["evidence"]
    assert not any(node in (v["node_a"], v["node_b"]) for v in results["ib_write_bw"])
    assert f"not_measured: {node}: not measured: {node} is {state}" in output
    assert "fails on all" not in output


def test_slurmd_stopped_mid_probe_ends_within_its_bound_naming_the_node(
    cluster: dict[str, Any], ssh: Any, compute: list[str], deployed: DeployRun, tmp_path: Path
) -> None:
    """Issue 11, item 1: slurmd stopped on gpu02 while ``probe --suite nccl,ib`` runs."""
    node = compute[1]
    out = tmp_path / "out"
    try:
        code, output, took, bound = _probe_stopping_slurmd(cluster, ssh, node, out, "slurmd")
    finally:
        _slurmd_back(ssh, node)
    assert bound > 0, output[-3000:]
    assert code == 1, output[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert took <= bound and results["bound"]["seconds"] == bound
    assert results["bound"]["elapsed_s"] <= bound
    _assert_not_measured(results, node, output)
    others = [n for n in compute if n != node]
    assert all(v["passed"] for v in results["nccl"] if v["nodes"] == [others[0]])
    assert not _queued(ssh, [j["job_id"] for j in results["jobs"] if j["job_id"]])


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_probe_leaves_no_job_and_writes_incomplete_results(
    cluster: dict[str, Any],
    ssh: Any,
    inventory: Path,
    compute: list[str],
    tmp_path: Path,
    signum: int,
    status: int,
) -> None:
    """Issue 11, item 2: Ctrl-C (or SIGTERM) once the first job has ended."""
    out = tmp_path / "out"
    proc = _start_probe(inventory, out)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if " COMPLETED" in line and proc.poll() is None and len(lines) < 10_000:
                proc.send_signal(signum)
                break
        lines += proc.stdout.readlines() if proc.stdout else []
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = "".join(lines)
    assert proc.returncode == status, output[-3000:]
    assert "Aborted!" not in output
    results = json.loads((out / "results.json").read_text())
    assert results["incomplete"] is True and results["interrupted"] == signal.Signals(signum).name
    assert not results["passed"] and results["not_measured"]
    assert any(j["state"] == "COMPLETED" for j in results["jobs"])  # what finished is kept
    submitted = [j["job_id"] for j in results["jobs"] if j["job_id"]]
    assert submitted and not _queued(ssh, submitted)
    assert not any(f["kind"] in ("node", "hca", "link") for f in results["findings"])


def test_with_three_compute_nodes_the_others_are_still_measured(
    ha_cluster: dict[str, Any], ha_ssh: Any, ha_deployed: DeployRun, tmp_path: Path
) -> None:
    """Re-pairing: gpu02 lost, gpu01 and gpu03 still measured together (NCCL and ib_write_bw)."""
    nodes = hosts(ha_cluster, "compute")
    assert len(nodes) >= 3, nodes
    node = nodes[1]
    out = tmp_path / "out"
    try:
        code, output, took, bound = _probe_stopping_slurmd(ha_cluster, ha_ssh, node, out, "repair")
    finally:
        _slurmd_back(ha_ssh, node)
    assert code == 1 and took <= bound, output[-3000:]
    results = json.loads((out / "results.json").read_text())
    _assert_not_measured(results, node, output)
    others = [n for n in nodes if n != node]
    pairs = {frozenset((v["node_a"], v["node_b"])) for v in results["ib_write_bw"] if v["passed"]}
    assert frozenset(others[:2]) in pairs, results["ib_write_bw"]
    together = [v for v in results["nccl"] if set(v["nodes"]) == set(others) and v["passed"]]
    assert together, [(v["name"], v["nodes"], v["passed"]) for v in results["nccl"]]
