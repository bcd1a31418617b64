"""Fixtures for tests that need the live mock cluster (lab/up).

They run only when ``TRAINBED_MOCK`` names the state directory of a cluster that is up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from trainbed.checks.junit import CaseResult, read_junit

REPO = Path(__file__).resolve().parents[2]


#: The state directory of the Debian 13 / Slurm 24.11 cluster (tests marked ``debian13``):
#: ``lab/up --state-dir .mock-trixie --name trainbed-mock-trixie --subnet 172.31.233.0/24
#: --release trixie``, never deployed before its tests.
ENV_TRIXIE = "TRAINBED_MOCK_TRIXIE"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # `ha` marks what runs on the three-control-plane cluster, so tests/run can run those tests in
    # a process of their own beside the main cluster's (`-m "mock and ha"`, `-m "mock and not ha"`).
    for item in items:
        if "ha_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ha)
    if os.environ.get("TRAINBED_MOCK"):
        return
    skip = pytest.mark.skip(reason="needs the mock cluster: set TRAINBED_MOCK to its state dir")
    for item in items:
        if "mock" in item.keywords:
            item.add_marker(skip)


#: The state directory of the second mock cluster: three control-plane nodes (slurmctld primary,
#: backup, slurmdbd on cp3) and four compute nodes (as the quick-mode probe tests need).
#: ``tests/run`` brings it up with ``lab/up --state-dir .mock-ha --name trainbed-mock-ha
#: --subnet 172.31.249.0/24 --control-plane 3 --compute 4`` and never deploys it: the tests that
#: use it start from the first deploy.
ENV_HA = "TRAINBED_MOCK_HA"
#: The state directory of the Debian 13 / Slurm 24.11 cluster (tests marked ``debian13``, which
#: need no TRAINBED_MOCK): ``lab/up --state-dir .mock-trixie --name trainbed-mock-trixie
#: --subnet 172.31.233.0/24 --release trixie``, not deployed before its tests.
ENV_TRIXIE = "TRAINBED_MOCK_TRIXIE"


def _read_cluster(env: str) -> dict[str, Any]:
    state = Path(os.environ[env])
    try:
        return json.loads((state / "cluster.json").read_text())
    except OSError:
        pytest.fail(f"{env}={state} holds no cluster.json: run lab/up")


@pytest.fixture(scope="session")
def cluster() -> dict[str, Any]:
    return _read_cluster("TRAINBED_MOCK")


@pytest.fixture(scope="session")
def ha_cluster() -> dict[str, Any]:
    """The three-control-plane cluster; skipped (with the reason) when ``TRAINBED_MOCK_HA`` is unset."""
    if not os.environ.get(ENV_HA):
        pytest.skip(f"needs the three-control-plane mock cluster: set {ENV_HA} (tests/run does)")
    return _read_cluster(ENV_HA)


Ssh = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def ssh(cluster: dict[str, Any]) -> Ssh:
    """``ssh(host, command)`` through the generated ssh_config (strict host key checking)."""
    return ssh_runner(cluster)


@pytest.fixture(scope="session")
def ha_ssh(ha_cluster: dict[str, Any]) -> Ssh:
    return ssh_runner(ha_cluster)


def ssh_runner(cluster: dict[str, Any]) -> Ssh:
    """``run(host, command)`` over ``cluster``'s ssh_config."""

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


def swap_host_key(known_hosts: Path, host: str, tmp_path: Path) -> None:
    """Give ``host`` another key in ``known_hosts`` (as after a reinstall); the caller restores."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")],
        check=True,
        timeout=30,
    )
    other_key = " ".join((tmp_path / "other.pub").read_text().split()[:2])
    lines = [
        f"{line.split()[0]} {other_key}" if line.startswith(f"{host},") else line
        for line in known_hosts.read_text().splitlines()
    ]
    known_hosts.write_text("\n".join(lines) + "\n")


def hosts(cluster: dict[str, Any], kind: str) -> list[str]:
    return [n["hostname"] for n in cluster["nodes"] if n["kind"] == kind]


@dataclass
class DeployRun:
    """One `pyinfra inventory/mock.py deploy/cluster.py -y --json` run."""

    returncode: int
    output: str
    report: dict[str, Any] | None

    def changed(self) -> dict[str, list[str]]:
        """Operation name → hosts it changed."""
        ops = (self.report or {}).get("results", {}).get("operations", [])
        return {op["name"]: op["success"] for op in ops if op["success"]}

    def failed_hosts(self) -> list[str]:
        return list((self.report or {}).get("results", {}).get("failed_hosts", []))


Deploy = Callable[..., DeployRun]


@pytest.fixture(scope="session")
def deploy(cluster: dict[str, Any]) -> Deploy:
    """`deploy(*pyinfra_args, inventory=None)` runs the real deploy against the mock cluster."""
    return deploy_runner(cluster)


@pytest.fixture(scope="session")
def ha_deploy(ha_cluster: dict[str, Any]) -> Deploy:
    return deploy_runner(ha_cluster)


def deploy_runner(cluster: dict[str, Any]) -> Deploy:
    """``run(*pyinfra_args, inventory=None)``: the real deploy against ``cluster``."""

    def run(*args: str, inventory: str | None = None, timeout: float = 900) -> DeployRun:
        env = {**os.environ, "TRAINBED_INVENTORY": inventory or cluster["inventory"]}
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pyinfra",
                "inventory/mock.py",
                "deploy/cluster.py",
                "-y",
                "--json",
                *args,
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env,
            timeout=timeout,
        )
        start = proc.stdout.find("{")
        try:
            report = json.loads(proc.stdout[start:]) if start >= 0 else None
        except json.JSONDecodeError:
            report = None
        return DeployRun(proc.returncode, proc.stdout + proc.stderr, report)

    return run


@pytest.fixture(scope="session")
def deployed(deploy: Deploy) -> DeployRun:
    """The cluster after a deploy (the first, or a no-op when CI or a test deployed already)."""
    result = deploy()
    assert result.returncode == 0, result.output[-4000:]
    return result


@pytest.fixture(scope="session")
def ha_first_deploy(ha_deploy: Deploy) -> DeployRun:
    """The first deploy of the three-control-plane cluster, whichever test asks first.

    Tests of convergence read this run (it must leave every daemon active by itself); tests that
    only need a deployed cluster use ``ha_deployed``.
    """
    return ha_deploy()


@pytest.fixture(scope="session")
def ha_deployed(ha_first_deploy: DeployRun, ha_deploy: Deploy) -> DeployRun:
    """The three-control-plane cluster after a successful deploy (a second one if the first failed)."""
    if ha_first_deploy.returncode == 0:
        return ha_first_deploy
    result = ha_deploy()
    assert result.returncode == 0, result.output[-4000:]
    return result


# ----------------------------------------------------------------------- trainbed check

#: Workers for the suite: `trainbed check`'s default, which runs a cluster of this size in one
#: process (`trainbed.checks.scheduling.auto_workers`); the tests of the xdist path pass `-n 2`.
WORKERS = "auto"


@dataclass
class CheckRun:
    returncode: int
    output: str
    junit: Path
    results: list[CaseResult]

    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if r.outcome in ("failed", "error")]

    def failed_nodes(self) -> set[str | None]:
        return {r.node for r in self.failures()}

    def outcomes(self) -> dict[str, tuple[str, str]]:
        return {f"{r.module}::{r.test_id}": (r.outcome, r.message) for r in self.results}


Check = Callable[..., CheckRun]


@pytest.fixture(scope="session")
def node_names(cluster: dict[str, Any]) -> list[str]:
    return hosts(cluster, "control") + hosts(cluster, "compute")


@pytest.fixture(scope="session")
def check(cluster: dict[str, Any], node_names: list[str], tmp_path_factory) -> Check:
    """`check(*args, inventory=None)`: `python -m trainbed check INVENTORY --junit FILE -n auto *args`."""
    return check_runner(cluster, node_names, tmp_path_factory.mktemp("check"))


def check_runner(cluster: dict[str, Any], node_names: list[str], out_dir: Path) -> Check:
    """`check` against ``cluster``, its JUnit files in ``out_dir``."""
    count = iter(range(1000))

    def run(*args: str, timeout: float = 600, inventory: str | None = None) -> CheckRun:
        junit = out_dir / f"junit-{next(count)}.xml"
        command = [sys.executable, "-m", "trainbed", "check", inventory or cluster["inventory"]]
        proc = subprocess.run(
            [*command, "--junit", str(junit), "-n", WORKERS, *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=timeout,
        )
        results = read_junit(junit, node_names) if junit.exists() else []
        return CheckRun(proc.returncode, proc.stdout + proc.stderr, junit, results)

    return run


def fault(cluster: dict[str, Any], node: str, *words: str) -> None:
    subprocess.run(
        ["lab/fault", "--state-dir", cluster["state_dir"], node, *words],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )


def variant(cluster: dict[str, Any], tmp_path: Path, edit: Callable[[dict], None]) -> str:
    """The cluster's inventory with `edit` applied, written elsewhere with its paths made absolute."""
    source = Path(cluster["inventory"])
    doc = yaml.safe_load(source.read_text())

    def absolute(value: str) -> str:
        return str((source.parent / value).resolve())

    doc["ssh"]["key_file"] = absolute(doc["ssh"]["key_file"])
    doc["ssh"]["known_hosts_file"] = absolute(doc["ssh"]["known_hosts_file"])
    accounting = doc["slurm"]["accounting"]
    if "database_password_file" in accounting:
        accounting["database_password_file"] = absolute(accounting["database_password_file"])
    for repo in doc["software"]["repositories"]:
        repo["signed_by"] = absolute(repo["signed_by"])
    edit(doc)
    path = tmp_path / source.name  # rendered headers name the inventory file: keep its name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)
