"""The day-2 playbooks on the live mock cluster, through `inventory/ansible.py` like at a site.

Order matters (one module, one cluster): drain/resume, the rolling reboot with a busy node, the
rolling reboot stopped by a fault, diagnostics, then the munge key rotation and a deploy after it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mock_cluster.conftest import REPO, Deploy, DeployRun, Ssh, hosts, swap_host_key

pytestmark = pytest.mark.mock

MUNGE_OPS = (
    "slurm | slurm: cluster key | Create the cluster munge key",
    "slurm | slurm: cluster key | Copy the cluster munge key from cp1",
    "slurm | slurm: cluster key | /etc/munge/munge.key mode",
    "slurm | slurm: cluster key | Restart munge (new key)",
)
FAST = {"job_poll_interval": 2, "check_interval": 2, "check_timeout": 30, "register_timeout": 60}


def playbook(
    cluster: dict[str, Any], name: str, *args: str, extra: dict[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = ["ansible-playbook", "-i", "inventory/ansible.py", f"playbooks/{name}", *args]
    if extra:
        cmd += ["-e", json.dumps(extra)]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "TRAINBED_INVENTORY": cluster["inventory"], "ANSIBLE_NOCOLOR": "1"},
        timeout=600,
    )


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP → host → {ok, changed, failed, ...}."""
    found = {}
    for m in re.finditer(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M):
        found[m[1]] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m[2])}
    return found


def node(ssh: Ssh, name: str) -> dict[str, str]:
    text = ssh("cp1", f"scontrol show node {name}").stdout
    state = re.search(r"State=(\S+)", text)
    reason = re.search(r"Reason=(.*)$", text, re.M)
    return {"state": state[1] if state else "", "reason": reason[1] if reason else ""}


def started(cluster: dict[str, Any], name: str) -> str:
    """When the node's container (its 'machine') last booted."""
    container = next(n["container"] for n in cluster["nodes"] if n["hostname"] == name)
    return subprocess.run(
        ["docker", "inspect", "--format", "{{.State.StartedAt}}", container],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def wait_idle(ssh: Ssh, names: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(node(ssh, n)["state"] == "IDLE" for n in names):
            return
        time.sleep(2)
    raise AssertionError({n: node(ssh, n) for n in names})


@pytest.fixture(scope="module", autouse=True)
def ready(deployed: DeployRun, ssh: Ssh) -> None:
    """A deployed cluster whose compute nodes are idle and in service."""
    wait_idle(ssh, ["gpu01", "gpu02"], timeout=120)


def test_a_changed_host_key_is_refused_inside_ansibles_persist_window(
    cluster: dict[str, Any], tmp_path: Path
) -> None:
    """Ansible keeps masters 60 s; a key changed meanwhile is still refused (issue 11, item 4)."""

    def ping() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ansible", "-i", "inventory/ansible.py", "gpu01", "-m", "ping"],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, "TRAINBED_INVENTORY": cluster["inventory"], "ANSIBLE_NOCOLOR": "1"},
            timeout=120,
        )

    known = Path(cluster["known_hosts"])
    original = known.read_text()
    first = ping()
    assert first.returncode == 0, first.stdout + first.stderr
    since = time.monotonic()
    try:
        swap_host_key(known, "gpu01", tmp_path)
        second = ping()
        elapsed = time.monotonic() - since
    finally:
        known.write_text(original)
    assert elapsed < 60, "the second ping ran past Ansible's ControlPersist window"
    assert second.returncode != 0, second.stdout
    assert "UNREACHABLE" in second.stdout and "Host key verification failed" in second.stdout


def test_drain_and_resume_are_idempotent(cluster: dict[str, Any], ssh: Ssh) -> None:
    reason = {"reason": "trainbed test: PSU swap"}
    first = playbook(cluster, "drain.yml", "-l", "gpu02", extra=reason)
    assert first.returncode == 0, first.stdout[-3000:]
    assert recap(first.stdout)["gpu02"]["changed"] == 1
    assert node(ssh, "gpu02") == {"state": "IDLE+DRAIN", "reason": node(ssh, "gpu02")["reason"]}
    assert node(ssh, "gpu02")["reason"].startswith("trainbed test: PSU swap")
    again = playbook(cluster, "drain.yml", "-l", "gpu02", extra=reason)
    assert again.returncode == 0 and recap(again.stdout)["gpu02"]["changed"] == 0
    resumed = playbook(cluster, "resume.yml", extra={"nodes": "gpu02"})
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert recap(resumed.stdout)["gpu02"]["changed"] == 1
    again = playbook(cluster, "resume.yml", extra={"nodes": "gpu02"})
    assert again.returncode == 0 and recap(again.stdout)["gpu02"]["changed"] == 0
    wait_idle(ssh, ["gpu02"])


def test_rolling_reboot_waits_for_the_busy_node(cluster: dict[str, Any], ssh: Ssh) -> None:
    job = ssh("cp1", "sbatch --parsable -w gpu01 --wrap 'sleep 60'").stdout.strip()
    deadline = time.monotonic() + 60
    while ssh("cp1", f"squeue -h -j {job} -o %T").stdout.strip() != "RUNNING":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(1)
    before = {n: started(cluster, n) for n in ("gpu01", "gpu02")}
    result = playbook(cluster, "rolling_reboot.yml", extra=FAST)
    assert result.returncode == 0, result.stdout[-4000:]
    after = {n: started(cluster, n) for n in ("gpu01", "gpu02")}
    # Both rebooted, the idle one first; the busy one only after its job ended (not killed).
    assert after["gpu01"] != before["gpu01"] and after["gpu02"] != before["gpu02"]
    assert after["gpu02"] < after["gpu01"]
    order = re.findall(r"ok: \[gpu0\d\] => \(item=(gpu0\d)\)", result.stdout)
    assert order == ["gpu02", "gpu01"]
    state = ssh("cp1", f"sacct -n -X -P -j {job} -o State,ExitCode,End").stdout.split("|")
    assert state[:2] == ["COMPLETED", "0:0"], state
    assert state[2].strip() < after["gpu01"].replace("Z", "")[:19]
    for name in ("gpu01", "gpu02"):
        assert node(ssh, name)["state"] == "IDLE", node(ssh, name)


@pytest.fixture
def gpu01_gpu_removed(cluster: dict[str, Any], ssh: Ssh) -> Iterator[None]:
    """gpu01 with GPU 3 removed; afterwards the fault cleared and gpu01 resumed (checked)."""
    fault = [
        str(REPO / "lab" / "fault"),
        "--state-dir",
        str(cluster["state_dir"]),
        "gpu01",
    ]
    subprocess.run([*fault, "gpu", "3", "remove"], check=True, capture_output=True, timeout=60)
    yield
    subprocess.run([*fault, "clear"], check=True, capture_output=True, timeout=60)
    ssh("gpu01", "systemctl restart slurmd")
    resumed = playbook(cluster, "resume.yml", "-l", "gpu01")
    # In teardown: a failure here is reported beside the test's own, never instead of it.
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    wait_idle(ssh, ["gpu01", "gpu02"])


def test_rolling_reboot_stops_at_a_failing_node(
    cluster: dict[str, Any], ssh: Ssh, gpu01_gpu_removed: None
) -> None:
    before = started(cluster, "gpu02")
    result = playbook(cluster, "rolling_reboot.yml", extra=FAST)
    assert result.returncode != 0
    # The fault survives the reboot (the hardware description is a file on the node).
    assert ssh("gpu01", "nvidia-smi -L | wc -l").stdout.strip() == "7"
    state = node(ssh, "gpu01")
    assert "DRAIN" in state["state"]
    assert "trainbed rolling reboot" in state["reason"]
    assert "gpu01 GPU count: expected 8, got 7" in state["reason"]
    assert "The rollout stops here" in result.stdout
    # gpu02 came after gpu01 in the rollout: never touched.
    assert started(cluster, "gpu02") == before
    assert node(ssh, "gpu02")["state"] == "IDLE"


def _key_forms(key: bytes) -> list[bytes]:
    """Recognisable pieces of the key: 16-byte windows raw and in hex, base64 at every alignment."""
    forms = []
    for i in range(0, len(key) - 16 + 1, 16):
        chunk = key[i : i + 16]
        forms += [chunk, chunk.hex().encode(), chunk.hex().upper().encode()]
    for offset in range(3):
        encoded = base64.b64encode(key[offset:])
        forms += [encoded[j : j + 24] for j in range(0, len(encoded) - 24, 24)]
    return forms


def munge_key(ssh: Ssh) -> bytes:
    return base64.b64decode(ssh("cp1", "base64 -w0 /etc/munge/munge.key").stdout)


def test_collect_diagnostics_holds_no_secret(
    cluster: dict[str, Any], ssh: Ssh, tmp_path: Path
) -> None:
    result = playbook(cluster, "collect_diagnostics.yml", extra={"diagnostics_dir": str(tmp_path)})
    assert result.returncode == 0, result.stdout[-4000:]
    (folder,) = tmp_path.iterdir()
    assert re.fullmatch(r"\d{8}T\d{6}Z", folder.name)
    assert sorted(p.name for p in folder.iterdir()) == ["cp1", "gpu01", "gpu02"]
    gpu = folder / "gpu01"
    for item in (
        "nvidia-smi-q",
        "ibstat",
        "ibv_devinfo",
        "journal-nvidia-fabricmanager",
        "journal-slurmd",
        "dmesg-xid-mlx5",
        "sinfo",
        "scontrol-show-node",
        "packages",
    ):
        assert (gpu / f"{item}.txt").is_file(), item
    assert "Product Name" in (gpu / "nvidia-smi-q.txt").read_text()
    assert "CA 'mlx5_0'" in (gpu / "ibstat.txt").read_text()
    assert "NodeName=gpu01" in (gpu / "scontrol-show-node.txt").read_text()
    dmesg = (gpu / "dmesg-xid-mlx5.txt").read_text()
    assert "dmesg failed:" in dmesg or "Xid" in dmesg or "no Xid" in dmesg
    packages = json.loads((gpu / "packages.json").read_text())
    assert packages and all(p["match"] for p in packages), packages
    key = munge_key(ssh)
    forms = _key_forms(key)
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(f in data for f in forms), f"munge key bytes in {path}"
    assert not any(f in result.stdout.encode() for f in forms)


def test_rotate_munge_key(cluster: dict[str, Any], ssh: Ssh, deploy: Deploy) -> None:
    slurm_nodes = hosts(cluster, "control") + hosts(cluster, "compute")
    digest = (
        "sha256sum /etc/munge/munge.key | cut -d' ' -f1; stat -c '%a %U %G' /etc/munge/munge.key"
    )

    def keys() -> dict[str, str]:
        return {n: ssh(n, digest).stdout for n in slurm_nodes}

    old_key = munge_key(ssh)
    before = keys()
    assert len(set(before.values())) == 1
    refused = playbook(cluster, "rotate_munge_key.yml", "-l", "cp1,gpu01")
    assert refused.returncode != 0 and keys() == before  # never on part of the cluster
    result = playbook(cluster, "rotate_munge_key.yml")
    assert result.returncode == 0, result.stdout[-4000:]
    after = keys()
    assert len(set(after.values())) == 1 and after != before
    assert next(iter(after.values())).endswith("400 munge munge\n")
    new_key = munge_key(ssh)
    for output in (result.stdout + result.stderr, refused.stdout + refused.stderr):
        assert not any(f in output.encode() for f in _key_forms(new_key) + _key_forms(old_key))
    assert ssh("cp1", "ls /etc/munge").stdout.split() == ["munge.key"]
    run = ssh("cp1", "srun -N2 -w gpu01,gpu02 hostname", timeout=120)
    assert sorted(run.stdout.split()) == ["gpu01", "gpu02"]
    # The deploy keeps the rotated key (the primary's key is the cluster key).
    rerun = deploy()
    assert rerun.returncode == 0, rerun.output[-4000:]
    changed = rerun.changed()
    assert not [op for op in MUNGE_OPS if op in changed], changed
    assert keys() == after
