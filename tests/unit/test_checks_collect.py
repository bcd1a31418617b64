"""The acceptance suite's collection from an inventory (no SSH): which checks run on which hosts."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from tests.conftest import PROD_YAML, REPO
from trainbed.cli import main


def _collect_run(*args: str) -> subprocess.CompletedProcess[str]:
    """``pytest --collect-only`` of the acceptance checks (trainbed.checks.plugin) with `args`."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "trainbed/checks/",
            "-p",
            "trainbed.checks.plugin",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def _collect(*args: str) -> tuple[int, list[str]]:
    proc = _collect_run(*args)
    ids = [line.split("::", 1)[1] for line in proc.stdout.splitlines() if "::" in line]
    return proc.returncode, ids


@pytest.fixture(scope="module")
def prod_ids() -> list[str]:
    code, ids = _collect("--inventory", str(PROD_YAML))
    assert code == 0
    return ids


def test_ids_carry_the_host_then_the_item(prod_ids: list[str]) -> None:
    assert "test_hca_port[gpu01-mlx5_0]" in prod_ids
    assert "test_gpu_count[gpu06]" in prod_ids
    assert "test_service[cp1-opensm@rail0]" in prod_ids
    assert all("[" in i and "NOTSET" not in i for i in prod_ids)


def test_checks_run_on_the_hosts_of_their_role(prod_ids: list[str]) -> None:
    def hosts(check: str) -> set[str]:
        return {
            i.split("[", 1)[1].split("-", 1)[0].rstrip("]")
            for i in prod_ids
            if i.startswith(check + "[")
        }

    assert hosts("test_running_config") == {"cp1", "cp2"}  # primary and backup slurmctld
    assert hosts("test_gpu_count") == {f"gpu0{i}" for i in range(1, 7)}
    assert "cp1" not in hosts("test_munge_key_identical")  # the reference key
    assert {"cp2", "cp3", "gpu01"} <= hosts("test_munge_credential")
    assert {"cp1", "gpu01"} <= hosts("test_os_release")


def test_limit_selects_hosts_and_groups() -> None:
    code, ids = _collect("--inventory", str(PROD_YAML), "--limit", "gpu02,slurmdbd")
    assert code == 0
    assert {i.split("[", 1)[1].split("-", 1)[0].rstrip("]") for i in ids} == {"gpu02", "cp3"}


def test_a_limit_matching_nothing_stops_the_run() -> None:
    proc = _collect_run("--inventory", str(PROD_YAML), "--limit", "nosuch")
    assert proc.returncode == 4
    assert "--limit 'nosuch' matches no host or group of the inventory" in proc.stderr


def test_cli_refuses_a_bad_limit_before_running() -> None:
    result = CliRunner().invoke(main, ["check", str(PROD_YAML), "--limit", "gpu99"])
    assert result.exit_code == 2
    assert "'gpu99' matches no host or group" in result.output
