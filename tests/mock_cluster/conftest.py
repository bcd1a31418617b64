"""Fixtures for tests that need the live mock cluster (tests/mock/up).

They run only when ``TRAINBED_MOCK`` names the state directory of a cluster that is up.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.mock.simhw import packages

SIM_SOURCE = "/run/trainbed-sim-test.list"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("TRAINBED_MOCK"):
        return
    skip = pytest.mark.skip(reason="needs the mock cluster: set TRAINBED_MOCK to its state dir")
    for item in items:
        if "mock" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cluster() -> dict[str, Any]:
    state = Path(os.environ["TRAINBED_MOCK"])
    try:
        return json.loads((state / "cluster.json").read_text())
    except OSError:
        pytest.fail(f"TRAINBED_MOCK={state} holds no cluster.json: run tests/mock/up")


Ssh = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def ssh(cluster: dict[str, Any]) -> Ssh:
    """``ssh(host, command)`` through the generated ssh_config (strict host key checking)."""

    def run(host: str, command: str, check: bool = True, timeout: float = 120):
        proc = subprocess.run(
            ["ssh", "-F", cluster["ssh_config"], host, command],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{host}: {command!r} failed ({proc.returncode}): {proc.stderr.strip()[-1500:]}"
            )
        return proc

    return run


def hosts(cluster: dict[str, Any], kind: str) -> list[str]:
    return [n["hostname"] for n in cluster["nodes"] if n["kind"] == kind]


@pytest.fixture(scope="session")
def sim_installed(cluster: dict[str, Any], ssh: Ssh) -> list[str]:
    """Install the simulated packages by hand (what the deploy will do), from a source list
    that only apt sees for this call; start the fabric manager on compute nodes and one opensm
    per rail on the first control node. Undone at the end of the session."""
    repo = cluster["sim_repo"]["mount"]
    line = f"deb [signed-by={repo}/sim-archive-keyring.gpg] file:{repo} ./"
    opts = (
        f"-o Dir::Etc::SourceList={SIM_SOURCE} -o Dir::Etc::SourceParts=/dev/null "
        "-o APT::Get::List-Cleanup=0"
    )
    pins = packages.versions()
    wanted = {
        "compute": [
            "nvidia-driver-535-server",
            "nvidia-fabricmanager-535",
            "datacenter-gpu-manager",
            "infiniband-diags",
            "ibverbs-utils",
            "perftest",
            "nccl-tests",
        ],
        "control": ["infiniband-diags", "opensm"],
    }
    nodes = hosts(cluster, "compute") + hosts(cluster, "control")
    for host in nodes:
        kind = "compute" if host in hosts(cluster, "compute") else "control"
        spec = " ".join(f"{p}={pins[p]}" for p in wanted[kind])
        ssh(
            host,
            f"echo '{line}' > {SIM_SOURCE} && apt-get {opts} update -q && "
            f"DEBIAN_FRONTEND=noninteractive apt-get {opts} install -y -q {spec}",
            timeout=300,
        )
    for host in hosts(cluster, "compute"):
        ssh(host, "systemctl start nvidia-fabricmanager")
    cp = hosts(cluster, "control")[0]
    hw = json.loads(ssh(cp, "cat /etc/trainbed-sim/hardware.json").stdout)
    for h in hw["hcas"]:
        ssh(
            cp,
            f"systemctl is-active -q opensm-test-{h['rail']} || systemd-run --unit "
            f"opensm-test-{h['rail']} /usr/sbin/opensm -g {h['port_guid']} -p 15",
        )
    yield nodes
    for h in hw["hcas"]:
        ssh(cp, f"systemctl stop opensm-test-{h['rail']}", check=False)
