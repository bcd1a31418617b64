"""The deploy on the live mock cluster: converges in one run (three control-plane nodes too), is
idempotent, fails a host whose daemon does not stay up (naming it, the unit and its journal),
survives a dead host, and applies a partition change with a reconfigure instead of restarting
slurmd."""

from __future__ import annotations

import base64
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.mock_cluster.conftest import Deploy, DeployRun, Ssh, hosts
from trainbed.checks.expected import units as catalog_units
from trainbed.inventory import load_inventory

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


def _inactive_daemons(ssh: Ssh, cluster: dict[str, Any]) -> dict[str, dict[str, str]]:
    """host → {unit: state} for every unit the deploy enables there that is not active now."""
    inv = load_inventory(Path(cluster["inventory"])).inventory
    bad: dict[str, dict[str, str]] = {}
    for name in hosts(cluster, "control") + hosts(cluster, "compute"):
        units = list(catalog_units(inv, inv.node(name)))
        states = ssh(name, "systemctl is-active " + " ".join(units), check=False).stdout.split()
        found = {u: st for u, st in zip(units, states, strict=False) if st != "active"}
        if found or len(states) != len(units):
            bad[name] = found or {"(answers)": " ".join(states)}
    return bad


def test_three_control_plane_first_deploy_converges_in_one_run(
    ha_first_deploy: DeployRun, ha_deploy: Deploy, ha_ssh: Ssh, ha_cluster
) -> None:
    """The very first deploy (slurmctld on cp1 and cp2, slurmdbd on cp3) leaves every daemon
    active by itself: slurmdbd answered before either slurmctld started."""
    assert ha_first_deploy.returncode == 0, ha_first_deploy.output[-4000:]
    roles = {n["hostname"]: n["roles"] for n in ha_cluster["nodes"]}
    assert "slurmdbd" in roles["cp3"] and "slurmctld_backup" in roles["cp2"]
    assert _inactive_daemons(ha_ssh, ha_cluster) == {}
    for host, units in {"cp1": "slurmctld", "cp2": "slurmctld", "cp3": "slurmdbd mariadb"}.items():
        ha_ssh(host, f"systemctl is-active {units} munge")
    compute = hosts(ha_cluster, "compute")
    _wait_idle(ha_ssh, "cp1", compute, timeout=60)
    again = ha_deploy()
    assert again.returncode == 0, again.output[-3000:]
    assert again.changed() == {}, f"a second deploy changed: {again.changed()}"


DROP_IN = "/run/systemd/system/slurmd.service.d/zz-trainbed-test.conf"


def test_a_daemon_that_cannot_start_fails_its_host_with_its_journal(
    deployed: DeployRun, deploy: Deploy, ssh: Ssh, cluster
) -> None:
    """slurmd made unable to start on one node (a runtime drop-in whose ExecStartPre fails): the
    run fails for that node alone, naming it, the unit and its last journal lines."""
    victim = hosts(cluster, "compute")[0]
    refusal = "trainbed-test: slurmd refused to start"
    unit = f'[Service]\nExecStartPre=/bin/sh -c "echo {refusal} >&2; exit 1"\n'
    ssh(
        victim,
        f"mkdir -p {Path(DROP_IN).parent} && printf '{unit}' > {DROP_IN}"
        " && systemctl daemon-reload && systemctl stop slurmd",
    )
    try:
        run = deploy()
        assert run.returncode != 0, run.output[-3000:]
        failed = run.failed_hosts()
        assert len(failed) == 1 and victim in failed[0], failed
        assert f"{victim}: slurmd is failed after its start" in run.output, run.output[-3000:]
        assert refusal in run.output  # a journal line of the failed start
        assert f"--> 1 host(s) failed: {victim}" in run.output
        others = [n for n in hosts(cluster, "control") + hosts(cluster, "compute") if n != victim]
        for node in others:
            assert f"{node}: Error" not in run.output and f"[{node}] Error" not in run.output
    finally:
        ssh(victim, f"rm -f {DROP_IN} && systemctl daemon-reload")
    rerun = deploy()
    assert rerun.returncode == 0, rerun.output[-3000:]
    assert ssh(victim, "systemctl is-active slurmd").stdout.strip() == "active"
    _wait_idle(ssh, hosts(cluster, "control")[0], hosts(cluster, "compute"))
