"""Faults outside the compute nodes, on the live mock cluster: a dead primary slurmctld, a rail
whose subnet managers are all stopped. The probe must name the controller or the rail, never the
healthy compute nodes whose jobs they spoiled. Each test restores what it stopped and waits,
bounded, until the cluster is as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.mock_cluster.conftest import DeployRun, Ssh, hosts
from tests.mock_cluster.test_probe import probe_inventory, run_probe
from trainbed.parse.ibstat import parse_ibstat
from trainbed.parse.slurm import parse_scontrol_ping

pytestmark = pytest.mark.mock

#: SlurmctldTimeout (120 s) + 90 s: the probe's bound on waiting for the backup.
TAKEOVER_BOUND_S = 210


def _wait(what: str, ready: Callable[[], bool], bound_s: float, every_s: float = 3.0) -> None:
    deadline = time.monotonic() + bound_s
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {bound_s:g} s")
        time.sleep(every_s)


def _primary_in_control(ssh: Ssh, submit: str) -> bool:
    ping = parse_scontrol_ping(ssh(submit, "scontrol ping", check=False, timeout=60).stdout)
    if not (ping and ping[0].up):
        return False
    states = ssh(submit, "timeout 20 sinfo -h -o %T", check=False, timeout=60)
    return states.returncode == 0 and set(states.stdout.split()) <= {"idle"}


def _compute_blamed(results: dict[str, Any], compute: list[str]) -> list[dict[str, Any]]:
    return [
        f
        for f in results["findings"]
        if f["node"] in compute
        or f.get("peer") in compute
        or set(f.get("nodes", ())) & set(compute)
    ]


@pytest.fixture
def primary_stopped(
    ha_cluster: dict[str, Any], ha_ssh: Ssh, ha_deployed: DeployRun
) -> Iterator[tuple[str, str]]:
    """cp1's slurmctld stopped (primary, backup); started again and the primary in control after."""
    doc = yaml.safe_load(Path(ha_cluster["inventory"]).read_text())
    roles = {n["hostname"]: n.get("roles", []) for n in doc["control_plane"]}
    primary = next(h for h, r in roles.items() if "slurmctld_primary" in r)
    backup = next(h for h, r in roles.items() if "slurmctld_backup" in r)
    submit = next((h for h, r in roles.items() if "login" in r), backup)
    # A no-op when it runs. The first deploy's convergence is test_deploy's business: this test
    # needs a primary in control to stop.
    ha_ssh(primary, "systemctl start slurmctld")
    _wait("primary in control before the test", lambda: _primary_in_control(ha_ssh, submit), 180)
    ha_ssh(primary, "systemctl stop slurmctld")
    try:
        yield primary, backup
    finally:
        ha_ssh(primary, "systemctl start slurmctld")
        _wait("primary back in control", lambda: _primary_in_control(ha_ssh, submit), 240)


def test_primary_controller_stopped_names_the_controller_not_the_nodes(
    ha_cluster: dict[str, Any], primary_stopped: tuple[str, str], tmp_path: Path
) -> None:
    """Reproduction 5 of issue 11: three 60 s sbatch time-outs, then three healthy nodes blamed."""
    primary, backup = primary_stopped
    inventory = probe_inventory(ha_cluster, "controller")
    try:
        started = time.monotonic()
        code, output, results = run_probe(inventory, tmp_path / "out", "--suite", "nccl")
        took = time.monotonic() - started
    finally:
        inventory.unlink(missing_ok=True)
    compute = hosts(ha_cluster, "compute")
    assert not _compute_blamed(results, compute), results["findings"]
    (finding,) = results["findings"]
    assert finding["kind"] == "controller" and finding["node"] == primary, finding
    assert (
        f"controller {primary}: slurmctld not answering (scontrol ping: DOWN)"
        in (finding["evidence"])
    )
    controller = results["controller"]
    assert controller["down"] == [primary]
    if controller["takeover"] is not None:  # the backup took over within the bound
        assert controller["takeover"]["backup"] == backup
        assert f"backup {backup} took over after" in finding["evidence"]
        assert code == 1, output[-3000:]
        # The backup measures what it can; a job it could not start (seen: the three-node run
        # pending ReqNodeNotAvail on every node just after the takeover) is "not measured" with
        # Slurm's reason, and blames no node (asserted above).
        assert any(j["state"] == "COMPLETED" for j in results["jobs"]), results["jobs"]
        for job in (j for j in results["jobs"] if j["state"] != "COMPLETED"):
            assert any(
                m.startswith(f"nccl {job['name']}: not measured") for m in results["missing"]
            ), (job, results["missing"])
    else:
        assert code == 2, output[-3000:]
        assert "no controller answered: nothing measured" in finding["evidence"]
        assert all(j["state"] == "NOT_MEASURED" for j in results["jobs"])
    # Asked before the first sbatch: no sbatch time-out was spent on it.
    assert "sbatch refused" not in output and "sbatch failed" not in output
    assert took < TAKEOVER_BOUND_S + 600, took


def _rail_sm_hosts(cluster: dict[str, Any], rail: str) -> list[str]:
    doc = yaml.safe_load(Path(cluster["inventory"]).read_text())
    spec = next(r for r in doc["networks"]["infiniband"]["rails"] if r["name"] == rail)
    return [sm["host"] for sm in spec["subnet_managers"]]


def _rail_ports(cluster: dict[str, Any], ssh: Ssh, rail: str) -> dict[str, str | None]:
    """Each compute node's port state on ``rail`` as ibstat reads it now."""
    doc = yaml.safe_load(Path(cluster["inventory"]).read_text())
    states: dict[str, str | None] = {}
    for node in doc["compute"]:
        hca = next(h for h in node["hcas"] if h["rail"] == rail)
        cas = parse_ibstat(ssh(node["hostname"], f"ibstat {hca['device']}", timeout=60).stdout)
        port = next((p for ca in cas for p in ca.ports), None)
        states[node["hostname"]] = port.state if port else None
    return states


@pytest.fixture
def rail_without_sm(cluster: dict[str, Any], ssh: Ssh, deployed: DeployRun) -> Iterator[str]:
    """Every OpenSM instance of one rail stopped (primary and standby); started again after."""
    doc = yaml.safe_load(Path(cluster["inventory"]).read_text())
    rail = doc["networks"]["infiniband"]["rails"][-1]["name"]
    sm_hosts = _rail_sm_hosts(cluster, rail)
    for host in sm_hosts:
        ssh(host, f"systemctl stop opensm@{rail}")
    try:
        _wait(
            f"{rail} ports Initializing",
            lambda: set(_rail_ports(cluster, ssh, rail).values()) == {"Initializing"},
            60,
        )
        yield rail
    finally:
        for host in sm_hosts:
            ssh(host, f"systemctl start opensm@{rail}")
        _wait(
            f"{rail} ports Active again",
            lambda: set(_rail_ports(cluster, ssh, rail).values()) == {"Active"},
            90,
        )


def test_rail_with_its_subnet_managers_stopped_is_named(
    cluster: dict[str, Any], rail_without_sm: str, tmp_path: Path
) -> None:
    """Reproduction 7 of issue 11: "ambiguous: HCA or link", perftest's message dropped."""
    rail = rail_without_sm
    inventory = probe_inventory(cluster, "no-sm")
    try:
        code, output, results = run_probe(inventory, tmp_path / "out", "--suite", "ib")
    finally:
        inventory.unlink(missing_ok=True)
    assert code == 1, output[-3000:]
    (finding,) = results["findings"]
    assert finding["kind"] == "subnet_manager" and finding["rail"] == rail, finding
    evidence = finding["evidence"]
    assert evidence.startswith(f"no master subnet manager answering on {rail}")
    for node in hosts(cluster, "compute"):
        assert f"{node} " in evidence
    assert evidence.count("Initializing") == len(hosts(cluster, "compute"))
    assert "perftest: 'Port number 1 state is Init'" in evidence
    failing = [v for v in results["ib_write_bw"] if not v["passed"]]
    assert failing and {v["rail"] for v in failing} == {rail}
