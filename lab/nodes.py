"""Start the node containers and wait for them (bounded): systemd up, SSH answering."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab import hardware, names
from lab.config import (
    FABRIC_MOUNT,
    IFS_MOUNT,
    LABEL,
    SHARED_MOUNT,
    SIM_HARDWARE_PATH,
    SIM_REPO_MOUNT,
)
from lab.engine import MockError, docker, run
from lab.inventory import Node

SYSTEMD_WAIT_S = 90
SSH_WAIT_S = 60


def run_args(cluster: str, node: Node, image: str, repo: Path) -> list[str]:
    """``docker create`` arguments of one node (systemd as PID 1, no --privileged)."""
    args = [
        "create",
        "--name",
        names.container(cluster, node.hostname),
        "--hostname",
        node.hostname,
        "--network",
        names.network(cluster),
        "--ip",
        node.address,
        "--network-alias",
        node.hostname,
        "--label",
        f"{LABEL}={cluster}",
        "--label",
        f"{LABEL}.node={node.hostname}",
        "--label",
        f"{LABEL}.kind={node.kind}",
        "--cap-add",
        "SYS_ADMIN",
        "--cap-add",
        "NET_ADMIN",
        "--security-opt",
        "seccomp=unconfined",
        "--tmpfs",
        "/run:exec,mode=755",
        "--tmpfs",
        "/run/lock",
        "-v",
        "/sys/fs/cgroup:/sys/fs/cgroup:ro",
        "--restart",
        "unless-stopped",
        "--env",
        "container=docker",
        "-v",
        f"{repo}:{SIM_REPO_MOUNT}:ro",
        "-v",
        f"{names.volume(cluster, 'shared')}:{SHARED_MOUNT}",
        "-v",
        f"{names.volume(cluster, 'fabric')}:{FABRIC_MOUNT}",
    ]
    for alias in node.aliases:
        args += ["--network-alias", alias]
    if node.kind == "storage":
        args += [
            "--cap-add",
            "DAC_READ_SEARCH",
            "-v",
            f"{names.volume(cluster, 'ifs')}:{IFS_MOUNT}",
        ]
    return [*args, image]


def stage_files(stage: Path, files: dict[str, str | bytes], modes: dict[str, int]) -> None:
    """Write ``files`` (path inside the node -> content) under ``stage`` for ``docker cp``."""
    if stage.exists():
        shutil.rmtree(stage)
    for path, content in files.items():
        target = stage / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
        target.chmod(modes.get(path, 0o644))


def node_files(
    node: Node, host_key: Path, authorized_key: str, hardware: str | None, extra: dict[str, str]
) -> tuple[dict[str, str | bytes], dict[str, int]]:
    """What bring-up puts into a node before it boots."""
    files: dict[str, str | bytes] = {
        "/etc/ssh/ssh_host_ed25519_key": host_key.read_text(),
        "/etc/ssh/ssh_host_ed25519_key.pub": host_key.with_suffix(".pub").read_text(),
        "/root/.ssh/authorized_keys": authorized_key,
        "/etc/machine-id": uuid.uuid4().hex + "\n",
        **extra,
    }
    if hardware is not None:
        files[SIM_HARDWARE_PATH] = hardware
    modes = {
        "/etc/ssh/ssh_host_ed25519_key": 0o600,
        "/root/.ssh/authorized_keys": 0o600,
        "/etc/machine-id": 0o444,
    }
    return files, modes


def publish_cabling(container: str, description: str) -> None:
    """Show the node's cabling (`hardware.cabling` of its description) to the shared fabric
    volume, where the simulated ``ibnetdiscover`` of any node on the rail reads it: bring-up and
    every ``lab/fault`` write it, as plugging a cable in shows it to the fabric."""
    hw = json.loads(description)
    path = f"{FABRIC_MOUNT}/cabling/{hw.get('hostname', 'unknown')}.json"
    write_file(container, path, json.dumps(hardware.cabling(hw)) + "\n")


def write_file(container: str, path: str, text: str) -> None:
    """Atomic replace of `path` on the node (its directory made; a temp file, renamed)."""
    run(
        [
            "docker",
            "exec",
            "-i",
            container,
            "sh",
            "-c",
            f'mkdir -p "$(dirname {path})" && cat > {path}.tmp && mv {path}.tmp {path}',
        ],
        input=text,
    )


def create_and_start(cluster: str, node: Node, image: str, repo: Path, stage: Path) -> None:
    """docker create, copy the staged files in, docker start."""
    name = names.container(cluster, node.hostname)
    docker(*run_args(cluster, node, image, repo))
    # the root of the tree must not be copied over / with its own mode: copy each top dir
    for top in sorted(stage.iterdir()):
        docker("cp", "-a", str(top), f"{name}:/")
    docker("start", name)


def wait_systemd(cluster: str, node: Node, timeout: float = SYSTEMD_WAIT_S) -> str:
    """Wait until systemd reports running or degraded; return the state and failed units."""
    name = names.container(cluster, node.hostname)
    deadline = time.monotonic() + timeout
    state = "unknown"
    while time.monotonic() < deadline:
        proc = run(
            ["docker", "exec", name, "systemctl", "is-system-running"], check=False, timeout=30
        )
        state = proc.stdout.strip() or proc.stderr.strip()
        if state in ("running", "degraded"):
            if state == "degraded":
                failed = docker(
                    "exec", name, "systemctl", "--failed", "--plain", "--no-legend", check=False
                )
                return f"degraded ({' '.join(line.split()[0] for line in failed.splitlines())})"
            return state
        time.sleep(0.5)
    raise MockError(
        f"{node.hostname}: systemd did not reach running/degraded within "
        f"{timeout:.0f} s (last state: {state}); see "
        f"docker exec {name} systemctl --failed"
    )


def wait_unit(cluster: str, node: Node, unit: str, timeout: float = 60) -> None:
    """Wait until ``unit`` is active on the node."""
    name = names.container(cluster, node.hostname)
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = docker("exec", name, "systemctl", "is-active", unit, check=False)
        if state == "active":
            return
        time.sleep(0.5)
    raise MockError(
        f"{node.hostname}: {unit} not active within {timeout:.0f} s (state: "
        f"{state}); see docker exec {name} journalctl -u {unit}"
    )


def wait_ssh(node: Node, ssh_config: Path, timeout: float = SSH_WAIT_S) -> float:
    """Wait until ``ssh -F ssh_config NODE true`` succeeds (host key verified); return seconds."""
    start = time.monotonic()
    last = ""
    while time.monotonic() - start < timeout:
        try:
            proc = subprocess.run(
                ["ssh", "-F", str(ssh_config), node.hostname, "true"],
                capture_output=True,
                text=True,
                timeout=15,
            )
        except subprocess.TimeoutExpired:
            last = "ssh timed out"
            continue
        if proc.returncode == 0:
            return time.monotonic() - start
        last = proc.stderr.strip()
        time.sleep(0.5)
    raise MockError(
        f"{node.hostname}: SSH with strict host key checking did not succeed within "
        f"{timeout:.0f} s; last error: {last}"
    )


def parallel(fn, items: list, workers: int = 8) -> list:
    """Run ``fn`` over ``items`` in threads; re-raise the first error."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))
