"""Debian 13 nodes with Slurm 24.11 (`lab/up --release trixie`): the deploy converges on them in
one run (a second changes nothing), `trainbed check` passes and the probe suite's NCCL and
ib_write_bw jobs run through 24.11 and pass, from the inventory alone.

Runs when ``TRAINBED_MOCK_TRIXIE`` names the state directory of that cluster, brought up and not
yet deployed (see ``ENV_TRIXIE`` in conftest.py); one control-plane node and two compute nodes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.mock_cluster.conftest import (
    ENV_TRIXIE,
    Check,
    Deploy,
    DeployRun,
    Ssh,
    _read_cluster,
    check_runner,
    deploy_runner,
    hosts,
    ssh_runner,
)
from tests.mock_cluster.test_probe import probe_inventory, run_probe
from trainbed.inventory import load_inventory

pytestmark = pytest.mark.debian13

#: Lines slurmdbd and slurmctld logged on Debian 13 before the deploy followed the series:
#: MariaDB started by its package kept its defaults (the settings file never restarted it), and
#: the 24.11 units run both daemons as slurm, who cannot write /run/NAME.pid.
FIXED_LOG_LINES = ("Database settings not recommended values", "Unable to open pidfile")


@pytest.fixture(scope="module")
def trixie() -> dict[str, Any]:
    if not os.environ.get(ENV_TRIXIE):
        pytest.skip(f"needs the Debian 13 mock cluster: set {ENV_TRIXIE} to its state dir")
    return _read_cluster(ENV_TRIXIE)


@pytest.fixture(scope="module")
def trixie_ssh(trixie: dict[str, Any]) -> Ssh:
    return ssh_runner(trixie)


@pytest.fixture(scope="module")
def trixie_deploy(trixie: dict[str, Any]) -> Deploy:
    return deploy_runner(trixie)


@pytest.fixture(scope="module")
def first_deploy(trixie_deploy: Deploy) -> DeployRun:
    return trixie_deploy()


@pytest.fixture(scope="module")
def trixie_check(trixie: dict[str, Any], tmp_path_factory) -> Check:
    names = hosts(trixie, "control") + hosts(trixie, "compute")
    return check_runner(trixie, names, tmp_path_factory.mktemp("check-trixie"))


def test_the_inventory_states_debian_13_and_slurm_24_11(trixie: dict[str, Any]) -> None:
    inv = load_inventory(trixie["inventory"]).inventory
    assert inv.cluster.os_release == "debian-13"
    assert inv.software.slurm.version.startswith("24.11.")


def test_first_deploy_converges(first_deploy: DeployRun) -> None:
    assert first_deploy.returncode == 0, first_deploy.output[-4000:]
    assert first_deploy.failed_hosts() == []


def test_second_run_changes_nothing(first_deploy: DeployRun, trixie_deploy: Deploy) -> None:
    assert first_deploy.returncode == 0, "the first deploy failed"
    again = trixie_deploy()
    assert again.returncode == 0, again.output[-3000:]
    assert again.changed() == {}, f"a second deploy changed: {again.changed()}"


def test_daemons_log_none_of_the_fixed_errors(
    first_deploy: DeployRun, trixie: dict[str, Any], trixie_ssh: Ssh
) -> None:
    assert first_deploy.returncode == 0, "the first deploy failed"
    controller = hosts(trixie, "control")[0]
    logs = trixie_ssh(controller, "cat /var/log/slurm/slurmdbd.log /var/log/slurm/slurmctld.log")
    found = [line for line in logs.stdout.splitlines() if any(m in line for m in FIXED_LOG_LINES)]
    assert found == []


def test_a_job_runs_on_every_compute_node(
    first_deploy: DeployRun, trixie: dict[str, Any], trixie_ssh: Ssh
) -> None:
    assert first_deploy.returncode == 0, "the first deploy failed"
    compute = hosts(trixie, "compute")
    out = trixie_ssh(
        hosts(trixie, "control")[0], f"srun -N{len(compute)} -t 1 hostname", timeout=120
    )
    assert sorted(out.stdout.split()) == sorted(compute)


def test_trainbed_check_passes(first_deploy: DeployRun, trixie_check: Check) -> None:
    assert first_deploy.returncode == 0, "the first deploy failed"
    result = trixie_check()
    failures = [f"{r.test_id}: {r.message[:300]}" for r in result.failures()]
    assert result.returncode == 0 and not failures, "\n".join(failures) or result.output[-3000:]


def test_probe_suite_passes(
    first_deploy: DeployRun, trixie: dict[str, Any], tmp_path: Path
) -> None:
    """The default suites (NCCL all-reduce, ib_write_bw per rail) submitted to Slurm 24.11."""
    assert first_deploy.returncode == 0, "the first deploy failed"
    inventory = probe_inventory(trixie, "debian13")
    code, output, results = run_probe(inventory, tmp_path / "out")
    assert code == 0, output[-3000:]
    assert results["passed"] and results["findings"] == [], output[-3000:]
    assert {j["state"] for j in results["jobs"]} == {"COMPLETED"}
