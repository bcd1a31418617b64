"""`trainbed check` on the live mock cluster: passes after a deploy, catches each injected fault by
node and by what differs, changes nothing, and writes JUnit XML in the schema pytest emits."""

from __future__ import annotations

import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.junit_schema import schema_problems
from tests.mock_cluster.conftest import (
    Check,
    CheckRun,
    Deploy,
    DeployRun,
    Ssh,
    fault,
    hosts,
    swap_host_key,
    variant,
)
from trainbed.checks.junit import CaseResult
from trainbed.remote import CONTROL_PERSIST_S

pytestmark = pytest.mark.mock

#: An older perftest version than the locked one: the downgrade fault installs it.
OLD_PERFTEST = "24.07.0-0.44.ge1036c9.2407068sim1"


def _wait_idle(ssh: Ssh, cluster: dict[str, Any], timeout: float = 120) -> None:
    controller, compute = hosts(cluster, "control")[0], hosts(cluster, "compute")
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = ssh(controller, "sinfo -h -N -o '%N %T'", check=False).stdout
        states = dict(line.split()[:2] for line in out.splitlines() if line.strip())
        if all(states.get(n) == "idle" for n in compute):
            return
        time.sleep(2)
    raise AssertionError(f"compute nodes not idle within {timeout:.0f} s:\n{out}")


@pytest.fixture(scope="module")
def clean(deployed: DeployRun, ssh: Ssh, cluster: dict[str, Any]) -> None:
    """The cluster right after a successful deploy, every compute node idle in Slurm."""
    _wait_idle(ssh, cluster)


@pytest.fixture
def restore(ssh: Ssh, cluster: dict[str, Any]) -> Iterator[list[Callable[[], None]]]:
    """Tests append their undo steps; they run even when the test fails, then Slurm settles."""
    steps: list[Callable[[], None]] = []
    yield steps
    for step in reversed(steps):
        step()
    _wait_idle(ssh, cluster)


def assert_caught(run: CheckRun, node: str, check: str, *fragments: str) -> CaseResult:
    """The run failed, only on `node`, and `check` there says what differs."""
    assert run.returncode == 1, run.output[-3000:]
    assert run.failed_nodes() == {node}, [f"{r.test_id}: {r.message}" for r in run.failures()]
    matching = [r for r in run.failures() if r.check == check]
    assert matching, f"no failed {check} on {node}:\n{run.output[-3000:]}"
    hit = next((r for r in matching if all(f in r.message for f in fragments)), None)
    assert hit is not None, [r.message for r in matching]
    # the summary table names the node with its first failure; the JUnit file stays valid
    row = next(line for line in run.output.splitlines() if line.startswith(node + " "))
    assert int(row.split()[3]) >= 1, row
    assert schema_problems(ET.parse(run.junit).getroot()) == []
    return hit


def test_clean_cluster_passes_on_every_node(
    clean: None, check: Check, node_names: list[str]
) -> None:
    # on two xdist workers, each host's checks on one of them (the first counter readings and
    # the SSH pre-pass handed over by the controller); the other tests run in one process
    run = check("-n", "2")
    assert run.returncode == 0, run.output[-4000:]
    assert not run.failures()
    passed = {r.node for r in run.results if r.outcome == "passed"}
    assert passed == set(node_names)
    # every case names its node and its check
    assert all(r.node in node_names and r.check.startswith("test_") for r in run.results)
    for node in node_names:
        assert any(line.startswith(node + " ") for line in run.output.splitlines()), node
    # skips say why (what a container cannot do, or what the inventory does not use)
    for r in run.results:
        if r.outcome == "skipped":
            assert len(r.message) > 20, r


def test_junit_fits_the_schema_and_names_node_and_check(clean: None, check: Check) -> None:
    run = check("--limit", "gpu02")
    root = ET.parse(run.junit).getroot()
    assert schema_problems(root) == []
    cases = list(root.iter("testcase"))
    assert cases and all(c.get("classname", "").startswith("checks.test_") for c in cases)
    assert all("[gpu02" in c.get("name", "") for c in cases)


def _node_state(ssh: Ssh, node: str) -> str:
    """What a check must not change: managed config, packages and holds, unit states, the key."""
    return ssh(
        node,
        "find /etc /usr /var/lib/dpkg /var/lib/apt/extended_states -xdev -newer /run/trainbed-check-mark"
        " -not -path '/etc/ld.so.cache' 2>/dev/null | sort;"
        " dpkg-query -W -f='${Package} ${Version}\\n' | sha256sum; apt-mark showhold | sha256sum;"
        " systemctl list-units --type=service --state=active --no-legend --plain | awk '{print $1}';"
        " sha256sum /etc/munge/munge.key",
    ).stdout


def test_twice_same_result_and_nothing_changed(
    clean: None, check: Check, ssh: Ssh, node_names: list[str], deploy: Deploy
) -> None:
    for node in node_names:
        ssh(node, "touch /run/trainbed-check-mark")
    before = {node: _node_state(ssh, node) for node in node_names}
    first, second = check(), check()
    assert first.returncode == second.returncode == 0, second.output[-3000:]
    assert first.outcomes() == second.outcomes()
    after = {node: _node_state(ssh, node) for node in node_names}
    assert after == before
    # and the deploy, which owns the nodes' state, finds nothing to change
    rerun = deploy()
    assert rerun.returncode == 0 and rerun.changed() == {}, rerun.changed()


def test_degraded_hca(clean: None, check: Check, cluster, restore) -> None:
    fault(cluster, "gpu02", "hca", "mlx5_4", "rate", "200")
    restore.append(lambda: fault(cluster, "gpu02", "clear"))
    hit = assert_caught(
        check(), "gpu02", "test_hca_port", "mlx5_4 port 1 rate", "expected 400 Gb/s, got 200 Gb/s"
    )
    assert hit.params == "gpu02-mlx5_4"


def test_down_hca(clean: None, check: Check, cluster, restore) -> None:
    fault(cluster, "gpu02", "hca", "mlx5_4", "down")
    restore.append(lambda: fault(cluster, "gpu02", "clear"))
    run = check()
    assert_caught(
        run, "gpu02", "test_hca_port", "mlx5_4 port 1 state: expected Active/LinkUp, got Down"
    )
    # no subnet manager can answer through a port that is down (mlx5_4 is gpu02's rail2 port)
    assert_caught(run, "gpu02", "test_subnet_manager", "rail2 (mlx5_4) subnet manager")


def test_missing_gpu(clean: None, check: Check, cluster, restore) -> None:
    fault(cluster, "gpu01", "gpu", "5", "remove")
    restore.append(lambda: fault(cluster, "gpu01", "clear"))
    run = check()
    assert_caught(run, "gpu01", "test_gpu_count", "gpu01 GPU count: expected 8, got 7")
    assert_caught(run, "gpu01", "test_gpu_bus_ids", "expected 00000000:BB:00.0, got none there")


def test_stopped_fabric_manager(clean: None, check: Check, cluster, restore) -> None:
    fault(cluster, "gpu02", "fabricmanager", "stop")
    restore.append(lambda: fault(cluster, "gpu02", "clear"))
    run = check()
    assert_caught(
        run,
        "gpu02",
        "test_service",
        "gpu02 nvidia-fabricmanager: expected enabled and active, got enabled and failed",
    )


def test_fabric_manager_driver_mismatch(
    clean: None, check: Check, ssh: Ssh, cluster, restore
) -> None:
    """The driver changes under a running fabric manager: it stops and refuses to start, as the
    real one does, and the check names the node with both versions."""
    node = hosts(cluster, "compute")[-1]
    fault(cluster, node, "driver", "version", "535.999.99")
    restore.append(lambda: fault(cluster, node, "clear"))
    deadline = time.monotonic() + 30
    fm = "nvidia-fabricmanager"
    while ssh(node, f"systemctl is-active {fm}", check=False).stdout.strip() == "active":
        assert time.monotonic() < deadline, "the fabric manager kept running under another driver"
        time.sleep(1)
    assert ssh(node, f"systemctl start {fm}", check=False).returncode != 0
    journal = ssh(node, f"journalctl -u {fm} -n 20 --no-pager").stdout
    assert (
        "fabric manager NVIDIA GPU driver interface version 535.183.01 don't match with driver "
        "version 535.999.99" in journal
    ), journal
    assert_caught(
        check(),
        node,
        "test_fabric_manager_matches_driver",
        f"{node}: fabric manager 535.183.01, driver 535.999.99",
    )


@pytest.fixture(scope="session")
def compute(cluster: dict[str, Any]) -> list[str]:
    return hosts(cluster, "compute")


def test_slurmd_stopped_on_one_node(
    clean: None, check: Check, ssh: Ssh, compute: list[str], restore
) -> None:
    node = compute[-1]
    ssh(node, "systemctl stop slurmd")
    restore.append(lambda: ssh(node, "systemctl start slurmd"))
    assert_caught(
        check(),
        node,
        "test_service",
        f"{node} slurmd: expected enabled and active, got enabled and",
    )


def _downgrade(ssh: Ssh, node: str, package: str, old: str) -> None:
    """Install the locked package's own .deb relabelled with an older version, through apt.

    Debian's archive keeps one version of each package and the simulated repository one per
    package, so no older build exists to install; relabelling the installed build gives dpkg and
    apt a genuine downgrade (lower version, same files) without any network.
    """
    ssh(
        node,
        "set -e; d=$(mktemp -d); cd $d;"
        f" cp /srv/trainbed-sim-repo/{package}_*.deb new.deb;"
        " dpkg-deb -R new.deb tree;"
        f" sed -i 's/^Version: .*/Version: {old}/' tree/DEBIAN/control;"
        " dpkg-deb -b tree old.deb >/dev/null;"
        " DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades"
        " --allow-change-held-packages ./old.deb >/dev/null;"
        f" dpkg-query -W -f='${{Version}}' {package}; rm -rf $d",
    )


def test_package_downgraded_on_one_node(
    clean: None, check: Check, ssh: Ssh, compute: list[str], deploy: Deploy, restore
) -> None:
    node = compute[0]
    restore.append(lambda: _converge(deploy))
    _downgrade(ssh, node, "perftest", OLD_PERFTEST)
    assert ssh(node, "dpkg-query -W -f='${Version}' perftest").stdout == OLD_PERFTEST
    assert_caught(
        check(),
        node,
        "test_locked_package",
        f"{node} perftest version: expected 24.10.0-0.65.g9093bae.2410068sim1, got {OLD_PERFTEST}",
    )


def _converge(deploy: Deploy) -> None:
    """Rerun the deploy: it puts back what a fault changed (versions, holds, the munge key)."""
    result = deploy()
    assert result.returncode == 0, result.output[-3000:]


def test_munge_key_changed_on_one_node(
    clean: None, check: Check, ssh: Ssh, compute: list[str], deploy: Deploy, restore
) -> None:
    node = compute[0]
    restore.append(lambda: _converge(deploy))
    ssh(
        node,
        "dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none &&"
        " chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key &&"
        " systemctl restart munge",
    )
    run = check()
    hit = assert_caught(run, node, "test_munge_key_identical", f"{node} munge key sha256: expected")
    assert "(cp1's), got" in hit.message
    assert_caught(
        run,
        node,
        "test_munge_credential",
        f"{node} unmunge of a credential made on cp1: expected Success, got",
    )
    key = ssh(node, "base64 -w0 /etc/munge/munge.key").stdout.strip()
    assert key[:24] not in run.output and key[:24] not in run.junit.read_text()


def _node(cluster: dict[str, Any], hostname: str) -> dict[str, Any]:
    return next(n for n in cluster["nodes"] if n["hostname"] == hostname)


def _could_not_run(run: CheckRun, node: str, finding: CaseResult) -> list[CaseResult]:
    """The node's other checks: each skipped as "could not run" with the finding, none passed."""
    others = [r for r in run.results if r.node == node and r is not finding]
    assert len(others) > 50, others
    assert {r.outcome for r in others} == {"skipped"}, {(r.test_id, r.outcome) for r in others}
    assert all(r.message == f"could not run: {finding.message}" for r in others)
    return others


def test_a_changed_host_key_inside_the_persist_window_is_refused(
    clean: None, check: Check, cluster: dict[str, Any], deploy: Deploy, restore, tmp_path
) -> None:
    """Issue 11 (reproduction 3): the control sockets of the previous check are no way round it."""
    known = Path(cluster["known_hosts"])
    address = _node(cluster, "gpu01")["address"]
    original = known.read_text()
    restore.append(lambda: known.write_text(original))
    assert check().returncode == 0  # the masters now persist for CONTROL_PERSIST_S
    since = time.monotonic()
    swap_host_key(known, "gpu01", tmp_path)
    run = check()
    assert time.monotonic() - since < CONTROL_PERSIST_S, "the check ran past the persist window"
    assert run.returncode == 1, run.output[-3000:]
    assert run.failed_nodes() == {"gpu01"}, [f"{r.test_id}: {r.message}" for r in run.failures()]
    (finding,) = run.failures()
    assert finding.test_id == "test_ssh[gpu01]"
    assert finding.message == (
        f"gpu01: SSH to {address}:22 failed: host key differs from the one in {known} (if the "
        f"node was reinstalled, verify its new key, then: ssh-keygen -f {known} -R {address})"
    )
    _could_not_run(run, "gpu01", finding)
    # the deploy refuses too, and its hint names the inventory's file, not ~/.ssh/known_hosts
    refused = deploy("--limit", "gpu01", "--dry", timeout=120)
    assert refused.returncode != 0
    assert f"ssh-keygen -f {known} -R {address}" in refused.output, refused.output[-2000:]
    assert f"does not match the one in {known}" in refused.output


def _start(cluster: dict[str, Any], ssh: Ssh, deploy: Deploy, node: str) -> None:
    """Start a stopped node, wait (bounded) for SSH, and converge: Docker rewrote /etc/hosts."""
    subprocess.run(
        ["docker", "start", _node(cluster, node)["container"]],
        check=True,
        capture_output=True,
        timeout=60,
    )
    deadline = time.monotonic() + 60
    while ssh(node, "true", check=False, timeout=15).returncode != 0:
        assert time.monotonic() < deadline, f"{node}: no SSH within 60 s of docker start"
        time.sleep(1)
    _converge(deploy)


def test_a_stopped_node_is_one_finding_within_30_s(
    clean: None, check: Check, cluster: dict[str, Any], ssh: Ssh, deploy: Deploy, restore
) -> None:
    """Issue 11 (reproduction 8): gpu02's container stopped → one line, not 74 failures in minutes."""
    container = _node(cluster, "gpu02")["container"]
    restore.append(lambda: _start(cluster, ssh, deploy, "gpu02"))
    subprocess.run(["docker", "stop", container], check=True, capture_output=True, timeout=60)
    started = time.monotonic()
    run = check("-n", "2", timeout=120)  # the pre-pass's answer reaches the workers
    elapsed = time.monotonic() - started
    assert run.returncode == 1, run.output[-3000:]
    assert elapsed < 30, f"check took {elapsed:.0f} s"
    assert run.failed_nodes() == {"gpu02"}, [f"{r.test_id}: {r.message}" for r in run.failures()]
    (finding,) = run.failures()
    address = _node(cluster, "gpu02")["address"]
    assert finding.test_id == "test_ssh[gpu02]"
    assert finding.message.startswith(f"gpu02: SSH to {address}:22 failed: "), finding.message
    others = _could_not_run(run, "gpu02", finding)
    assert f"{finding.message} ({len(others)} other check(s) of gpu02 could not run)" in run.output
    row = next(line for line in run.output.splitlines() if line.startswith("gpu02 "))
    assert row.split()[2:6] == ["0", "1", "0", str(len(others))], row


FIRMWARE, OTHER_FIRMWARE = "28.39.1002", "28.37.1014"


def test_a_firmware_split_names_both_sides_and_a_lock_names_the_node(
    clean: None, check: Check, cluster: dict[str, Any], restore, tmp_path
) -> None:
    """Issue 11 (reproduction 6): all of gpu01's HCAs on another firmware, one against one."""
    fault(cluster, "gpu01", "hca", "all", "firmware", OTHER_FIRMWARE)
    restore.append(lambda: fault(cluster, "gpu01", "clear"))
    run = check()
    assert run.returncode == 1, run.output[-3000:]
    assert run.failed_nodes() == {"gpu01", "gpu02"}, [r.message for r in run.failures()]
    split = {r.node: r.message for r in run.failures()}
    assert {r.check for r in run.failures()} == {"test_hca_firmware"}
    assert split["gpu01"] == split["gpu02"]
    assert split["gpu01"].startswith(
        f"HCA firmware split across compute nodes: {OTHER_FIRMWARE} on gpu01; {FIRMWARE} on gpu02"
    )
    assert "expected" not in split["gpu01"]

    def lock(doc: dict) -> None:
        for profile in doc["profiles"].values():
            profile["firmware"] = {"hca": FIRMWARE}

    locked = check(inventory=variant(cluster, tmp_path, lock))
    assert locked.returncode == 1, locked.output[-3000:]
    assert locked.failed_nodes() == {"gpu01"}, [r.message for r in locked.failures()]
    (hit,) = locked.failures()
    profile = next(iter(yaml.safe_load(Path(cluster["inventory"]).read_text())["profiles"]))
    assert hit.check == "test_hca_firmware"
    assert hit.message.startswith("gpu01 mlx5_0, ")
    assert hit.message.endswith(
        f"HCA firmware: expected {FIRMWARE} (locked in profiles.{profile}.firmware.hca), "
        f"got {OTHER_FIRMWARE}"
    )
