"""The deploy on the live mock cluster: converges, is idempotent, survives a dead host, and applies a
partition change with a reconfigure instead of restarting slurmd."""

from __future__ import annotations

import base64
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.mock_cluster.conftest import Deploy, DeployRun, Ssh, hosts

pytestmark = pytest.mark.mock


def _absolute_paths(doc: dict[str, Any], base: Path) -> dict[str, Any]:
    """The inventory with its admin-side paths made absolute, so it can live in another folder."""
    ssh = doc["ssh"]
    for key in ("key_file", "known_hosts_file"):
        ssh[key] = str((base / ssh[key]).resolve())
    acct = doc["slurm"]["accounting"]
    if "database_password_file" in acct:
        acct["database_password_file"] = str((base / acct["database_password_file"]).resolve())
    for repo in doc["software"]["repositories"]:
        repo["signed_by"] = str((base / repo["signed_by"]).resolve())
    return doc


def _slurmd_pids(ssh: Ssh, nodes: list[str]) -> dict[str, str]:
    return {n: ssh(n, "systemctl show -p MainPID --value slurmd").stdout.strip() for n in nodes}


def _wait_idle(ssh: Ssh, controller: str, nodes: list[str], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = ssh(controller, "sinfo -h -N -o '%N %T %G'", check=False).stdout
        states = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}
        if all(states.get(n) == "idle" for n in nodes):
            return out
        time.sleep(2)
    raise AssertionError(f"nodes not idle within {timeout:.0f} s:\n{out}")


def test_second_run_changes_nothing(deployed: DeployRun, deploy: Deploy) -> None:
    again = deploy()
    assert again.returncode == 0, again.output[-3000:]
    assert again.changed() == {}, f"a second deploy changed: {again.changed()}"


def test_every_compute_node_idle_with_gpus(deployed: DeployRun, ssh: Ssh, cluster) -> None:
    controller, compute = hosts(cluster, "control")[0], hosts(cluster, "compute")
    out = _wait_idle(ssh, controller, compute)
    for node in compute:
        assert f"{node} idle gpu:8" in out
    ran = ssh(controller, f"srun -N{len(compute)} --ntasks-per-node=1 hostname", timeout=120)
    assert sorted(ran.stdout.split()) == sorted(compute)


def test_one_munge_key_never_printed(deployed: DeployRun, ssh: Ssh, cluster) -> None:
    nodes = hosts(cluster, "control") + hosts(cluster, "compute")
    sums = {n: ssh(n, "sha256sum /etc/munge/munge.key").stdout.split()[0] for n in nodes}
    assert len(set(sums.values())) == 1, sums
    for node in nodes:
        assert ssh(node, "stat -c '%a %U' /etc/munge/munge.key").stdout.split() == ["400", "munge"]
    key = ssh(nodes[0], "base64 -w0 /etc/munge/munge.key").stdout.strip()
    raw = base64.b64decode(key)
    for text in (key, raw.hex(), key[:40]):
        assert text not in deployed.output
    # A credential made on one node decodes on another: one key in force.
    cred = ssh(nodes[0], "munge -n").stdout.strip()
    assert "STATUS:          Success" in ssh(nodes[-1], f"echo {cred} | unmunge").stdout


def test_a_dead_host_does_not_stop_the_others(
    deployed: DeployRun, deploy: Deploy, ssh: Ssh, cluster
) -> None:
    victim = hosts(cluster, "compute")[-1]
    container = next(n["container"] for n in cluster["nodes"] if n["hostname"] == victim)
    subprocess.run(["docker", "stop", "-t", "5", container], check=True, capture_output=True)
    try:
        run = deploy()
        assert run.returncode != 0
        assert victim in run.output and victim in " ".join(run.failed_hosts()) + run.output
        others = [n for n in hosts(cluster, "control") + hosts(cluster, "compute") if n != victim]
        for node in others:
            assert f"[{node}]" in run.output and f"{node}: Error" not in run.output
    finally:
        subprocess.run(["docker", "start", container], check=True, capture_output=True)
    deadline = time.monotonic() + 90
    while ssh(
        victim, "systemctl is-system-running --wait", check=False, timeout=60
    ).returncode not in (0, 1):
        assert time.monotonic() < deadline, f"{victim} did not come back"
        time.sleep(2)
    rerun = deploy()
    assert rerun.returncode == 0, rerun.output[-3000:]
    _wait_idle(ssh, hosts(cluster, "control")[0], hosts(cluster, "compute"))


def test_partition_change_reconfigures_without_restarting_slurmd(
    deployed: DeployRun, deploy: Deploy, ssh: Ssh, cluster, tmp_path: Path
) -> None:
    compute = hosts(cluster, "compute")
    controller = hosts(cluster, "control")[0]
    original = Path(cluster["inventory"])
    doc = _absolute_paths(yaml.safe_load(original.read_text()), original.parent)
    doc["slurm"]["partitions"].append({"name": "debug", "nodes": [compute[0]], "max_time": "30:00"})
    variant = tmp_path / original.name  # same name: the files name their source
    variant.write_text(yaml.safe_dump(doc, sort_keys=False))
    before = _slurmd_pids(ssh, compute)
    try:
        run = deploy(inventory=str(variant))
        assert run.returncode == 0, run.output[-3000:]
        changed = run.changed()
        assert any(name.endswith("scontrol reconfigure") for name in changed), changed
        assert not any("Restart slurmd" in name for name in changed), changed
        assert _slurmd_pids(ssh, compute) == before
        parts = ssh(controller, "sinfo -h -o '%P %N'").stdout
        assert f"debug {compute[0]}" in parts
    finally:
        restored = deploy()
    assert restored.returncode == 0
    assert "debug" not in ssh(controller, "sinfo -h -o '%P'").stdout
    assert _slurmd_pids(ssh, compute) == before
