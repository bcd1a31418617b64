"""Containers and the training acceptance job on the live mock cluster.

enroot and pyxis come from the simulated repository at the inventory's versions; pyxis is a real
SPANK plugin, so Slurm itself parses `--container-*`. The NeMo batch job that
`trainbed.probes.training` renders is submitted with sbatch (test code: the probe run is the
library's Slurm client), and its log is judged against Table 4: it passes at the paper's pace
and fails, saying why, when the nodes are made 20 % slower (`lab/fault NODE training slow
1.2`). The simulated NeMo prints the simulated step times but sleeps a few ms per step, so the
500-step job takes seconds.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.mock_cluster.conftest import REPO, DeployRun, Ssh, hosts
from trainbed.inventory import load_inventory
from trainbed.inventory.model import Inventory
from trainbed.probes.training import TrainingJob, TrainingVerdict, judge_training, training_job
from trainbed.render import render_host
from trainbed.render.containers import ENROOT_CONF_PATH, PYXIS_CONF_PATH, pyxis_image
from trainbed.render.packages import containers_packages

pytestmark = pytest.mark.mock

WORKDIR = "/shared/trainbed-training"
JOB_WAIT_S = 240


@pytest.fixture(scope="module")
def inv(cluster: dict[str, Any]) -> Inventory:
    return load_inventory(Path(cluster["inventory"])).inventory


def test_enroot_and_pyxis_at_the_inventorys_versions(
    deployed: DeployRun, ssh: Ssh, inv: Inventory, cluster: dict[str, Any]
) -> None:
    submit = inv.submit_host.hostname
    for host in [*hosts(cluster, "compute"), submit]:
        node = inv.node(host)
        wanted = containers_packages(inv, node)
        assert wanted, host
        out = ssh(host, "dpkg-query -W -f '${Package}=${Version}\\n'; apt-mark showhold").stdout
        for package in wanted:
            assert package.spec in out.splitlines(), f"{host}: {package.spec}"
            assert package.name in out.splitlines(), f"{host}: {package.name} not held"
        rendered = render_host(inv, host)
        for path in (PYXIS_CONF_PATH, *([ENROOT_CONF_PATH] if node.kind == "compute" else [])):
            assert ssh(host, f"cat {path}").stdout == rendered[path].content, f"{host}:{path}"


def test_slurm_accepts_container_options(deployed: DeployRun, ssh: Ssh, inv: Inventory) -> None:
    submit = inv.submit_host.hostname
    assert "--container-image" in ssh(submit, "srun --help").stdout
    image = pyxis_image(inv.containers.nemo_image)
    probe = (
        f"srun -N1 -n1 --container-image={shlex.quote(image)} --container-workdir=/tmp "
        "--container-mounts=/etc/nccl.conf:/etc/nccl.conf:ro "
        "/bin/sh -c 'echo $TRAINBED_CONTAINER_IMAGE; pwd; "
        "test -f /opt/NeMo/examples/nlp/language_modeling/megatron_gpt_pretraining.py && echo nemo'"
    )
    out = ssh(submit, probe, timeout=120)
    assert out.stdout.split() == [image, "/tmp", "nemo"], out.stdout + out.stderr
    assert "pyxis: imported docker image" in out.stderr
    # outside a container the node's own /opt has no NeMo
    bare = ssh(submit, "srun -N1 -n1 ls /opt/NeMo", check=False)
    assert bare.returncode != 0
    # Slurm refuses what pyxis refuses, before any job runs
    bad = ssh(submit, "srun -N1 --container-workdir=relative true", check=False)
    assert bad.returncode != 0 and "must be an absolute path" in bad.stderr
    # an image the registry does not have: pyxis fails the step and shows enroot's log
    missing = ssh(submit, "srun -N1 --container-image=nvcr.io#nvidia/nope:1 true", check=False)
    assert "pyxis: failed to import docker image" in missing.stderr
    assert "404 Not Found" in missing.stdout + missing.stderr
    assert "task 0 launch failed" in missing.stderr


def run_job(ssh: Ssh, cluster: dict[str, Any], job: TrainingJob, submit: str) -> tuple[str, str]:
    """sbatch the script from the shared work directory; wait (bounded); (job id, log text)."""
    ssh(submit, f"mkdir -p {WORKDIR} && rm -f {WORKDIR}/{job.log_file}")
    script = f"{WORKDIR}/{job.name}.sbatch"
    subprocess.run(
        ["ssh", "-F", cluster["ssh_config"], submit, f"cat > {script}"],
        input=job.script,
        text=True,
        check=True,
        timeout=60,
    )
    job_id = ssh(submit, f"sbatch --parsable --chdir={WORKDIR} {script}").stdout.strip()
    deadline = time.monotonic() + JOB_WAIT_S
    while time.monotonic() < deadline:
        if not ssh(submit, f"squeue -h -j {job_id}", check=False).stdout.strip():
            break
        time.sleep(2)
    else:
        ssh(submit, f"scancel {job_id}", check=False)
        pytest.fail(f"job {job_id} still running after {JOB_WAIT_S} s")
    log = ssh(submit, f"cat {WORKDIR}/{job.log_file}").stdout
    return job_id, log


def fault(cluster: dict[str, Any], node: str, *words: str) -> None:
    subprocess.run(
        [str(REPO / "lab/fault"), "--state-dir", cluster["state_dir"], node, *words],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )


def train(ssh: Ssh, cluster: dict[str, Any], inv: Inventory) -> TrainingVerdict:
    job = training_job(inv, "llama2-7b", 2)
    job_id, log = run_job(ssh, cluster, job, inv.submit_host.hostname)
    verdict = judge_training(inv, "llama2-7b", 2, log, job_id=job_id)
    print(verdict.text)
    return verdict


def test_training_job_runs_at_the_papers_pace(
    deployed: DeployRun, ssh: Ssh, inv: Inventory, cluster: dict[str, Any]
) -> None:
    verdict = train(ssh, cluster, inv)
    assert verdict.passed, verdict.reasons
    assert verdict.steps == 500 and verdict.warmup_skipped == 10
    assert verdict.minutes_per_500_steps == pytest.approx(61, rel=0.01)


def test_training_twenty_percent_slower_fails(
    deployed: DeployRun, ssh: Ssh, inv: Inventory, cluster: dict[str, Any]
) -> None:
    compute = hosts(cluster, "compute")[:2]
    try:
        for node in compute:
            fault(cluster, node, "training", "slow", "1.2")
        verdict = train(ssh, cluster, inv)
    finally:
        for node in compute:
            fault(cluster, node, "clear")
    assert not verdict.passed
    assert verdict.minutes_per_500_steps == pytest.approx(61 * 1.2, rel=0.01)
    assert any(
        "slower than expected, beyond the +10% tolerance" in reason for reason in verdict.reasons
    ), verdict.reasons
