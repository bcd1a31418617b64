"""Acceptance of the mock cluster itself: SSH with verified host keys, the simulated hardware,
and every fault kind. Needs a live cluster (TRAINBED_MOCK=<state dir>)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from lab.listening import listening, wait_until
from tests.mock_cluster.conftest import Ssh, hosts

pytestmark = pytest.mark.mock
FAULT = str(Path(__file__).resolve().parents[2] / "lab" / "fault")


def fault(cluster: dict[str, Any], *words: str) -> None:
    subprocess.run(
        [FAULT, "--state-dir", cluster["state_dir"], *words],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_node_answers_ssh_with_strict_host_keys(cluster: dict[str, Any], ssh: Ssh) -> None:
    conf = Path(cluster["ssh_config"]).read_text()
    assert "StrictHostKeyChecking yes" in conf
    for node in cluster["nodes"]:
        # is-system-running exits 1 when degraded, which is still a booted node.
        out = ssh(
            node["hostname"], "hostname; systemctl is-system-running", check=False
        ).stdout.split()
        assert out[0] == node["hostname"] and out[1] in ("running", "degraded")


def test_an_unknown_host_key_is_refused(cluster: dict[str, Any], tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    node = cluster["nodes"][0]["hostname"]
    proc = subprocess.run(
        ["ssh", "-F", cluster["ssh_config"], "-o", f"UserKnownHostsFile={empty}", node, "true"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0 and "Host key verification failed" in proc.stderr


def test_storage_node_exports(cluster: dict[str, Any], ssh: Ssh) -> None:
    ps = hosts(cluster, "storage")[0]
    out = ssh(ps, "showmount -e localhost").stdout
    for path in ("/ifs/data/datasets", "/ifs/data/checkpoints", "/ifs/home"):
        assert path in out


def test_nvidia_smi_lists_eight_h100(cluster, ssh, deployed) -> None:
    for host in hosts(cluster, "compute"):
        out = ssh(host, "nvidia-smi -L").stdout.splitlines()
        assert len(out) == 8 and all("NVIDIA H100 80GB HBM3" in line for line in out)
        assert ssh(host, "ls /dev/nvidia7 /dev/nvidiactl").returncode == 0
        assert "Completed" in ssh(host, "nvidia-smi -q").stdout


def test_ibstat_eight_active_400_ports(cluster, ssh, deployed) -> None:
    host = hosts(cluster, "compute")[0]
    deadline = time.monotonic() + 20
    while True:
        out = ssh(host, "ibstat").stdout
        if out.count("State: Active") == 8 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert out.count("State: Active") == 8 and out.count("Rate: 400") == 8
    assert "SMINFO_MASTER" in ssh(host, "sminfo").stdout


def ib_write_bw(cluster, ssh, client: str, server: str, *args: str):
    srv = subprocess.Popen(
        [
            "ssh",
            "-F",
            cluster["ssh_config"],
            server,
            "ib_write_bw -d mlx5_0 --report_gbits " + " ".join(args),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    port = 18515  # ib_write_bw's default port

    def ready() -> bool:
        return listening(ssh(server, "cat /proc/net/tcp").stdout, port)

    if not wait_until(ready, 20, interval=0.2):
        srv.kill()
        pytest.fail(f"ib_write_bw on {server} never listened on port {port}")
    cli = ssh(
        client,
        f"ib_write_bw -d mlx5_0 --report_gbits {' '.join(args)} {server}",
        check=False,
        timeout=60,
    )
    if cli.returncode != 0:
        srv.kill()
    srv.communicate(timeout=70)
    return cli


def avg_gbits(text: str) -> float:
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(" #bytes"))
    return float(lines[i + 1].split()[3])


def test_ib_write_bw_between_two_compute_nodes(cluster, ssh, deployed) -> None:
    a, b = hosts(cluster, "compute")[:2]
    out = ib_write_bw(cluster, ssh, a, b)
    assert out.returncode == 0, out.stderr
    assert 385 < avg_gbits(out.stdout) < 400


def test_faults_change_what_the_simulators_print(cluster, ssh, deployed) -> None:
    a, b = hosts(cluster, "compute")[:2]
    try:
        fault(cluster, a, "hca", "mlx5_0", "rate", "200")
        assert "Rate: 200" in ssh(a, "ibstat mlx5_0").stdout
        assert 190 < avg_gbits(ib_write_bw(cluster, ssh, a, b).stdout) < 200

        fault(cluster, a, "hca", "mlx5_0", "down")
        assert "State: Down" in ssh(a, "ibstat mlx5_0").stdout
        down = ib_write_bw(cluster, ssh, a, b)
        assert down.returncode != 0 and "state is Down" in down.stderr

        fault(cluster, a, "gpu", "5", "remove")
        assert len(ssh(a, "nvidia-smi -L").stdout.splitlines()) == 7
        fail = ssh(a, "all_reduce_perf -b 8 -e 1M -f 2 -g 8", check=False)
        assert fail.returncode != 0 and "invalid device ordinal" in fail.stdout

        fault(cluster, a, "clear")
        ok = ssh(a, "all_reduce_perf -b 1G -e 1G -g 8").stdout
        assert "# Out of bounds values : 0 OK" in ok

        fault(cluster, a, "fabricmanager", "stop")
        assert (
            ssh(a, "systemctl is-active nvidia-fabricmanager", check=False).stdout.strip()
            != "active"
        )
        fm = ssh(a, "all_reduce_perf -b 8 -e 1M -f 2 -g 8", check=False)
        assert fm.returncode != 0 and "'system not yet initialized'" in fm.stdout
        assert "In Progress" in ssh(a, "nvidia-smi -q").stdout

        fault(cluster, a, "clear")
        ssh(a, "systemctl start nvidia-fabricmanager")
        fault(cluster, a, "nccl", "wrong")
        wrong = ssh(a, "all_reduce_perf -b 1M -e 4M -f 2 -g 8", check=False)
        assert wrong.returncode != 0
        assert re.search(r"Out of bounds values : [1-9]\d* FAILED", wrong.stdout)
    finally:
        fault(cluster, a, "clear")
        ssh(a, "systemctl start nvidia-fabricmanager", check=False)
