"""How the acceptance suite spreads over pytest-xdist workers (`trainbed.checks.scheduling`)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from trainbed.checks import scheduling
from trainbed.checks.health import FirstReadings
from trainbed.checks.scheduling import HostScheduling, auto_workers, host_of
from trainbed.parse.perfquery import PortCounters
from trainbed.verdicts import NotRun

HOSTS = frozenset({"cp1", "gpu1", "gpu1-a", "gpu02"})


@pytest.mark.parametrize(
    ("nodeid", "host"),
    [
        ("checks/test_base.py::test_ssh[gpu02]", "gpu02"),
        ("checks/test_infiniband.py::test_hca_port[gpu02-mlx5_4]", "gpu02"),
        ("checks/test_catalog.py::test_service[cp1-opensm@rail0]", "cp1"),
        # a hostname that is another's prefix: the longest that matches
        ("checks/test_infiniband.py::test_hca_port[gpu1-a-mlx5_0]", "gpu1-a"),
        ("checks/test_infiniband.py::test_hca_port[gpu1-mlx5_0]", "gpu1"),
        ("checks/test_base.py::test_ssh[gpu1]", "gpu1"),
        # no host: no parameter, or one that names none of the hosts
        ("checks/test_slurm.py::test_cluster_wide", None),
        ("checks/test_base.py::test_ssh[gpu03]", None),
        ("checks/test_base.py::test_ssh[xgpu02]", None),
    ],
)
def test_host_of(nodeid: str, host: str | None) -> None:
    assert host_of(nodeid, HOSTS) == host


@pytest.mark.parametrize(
    ("hosts", "cpus", "workers"),
    [
        (3, 2, 0),  # the mock cluster: start-up would cost more than it saves
        (16, 64, 0),
        (17, 64, 2),
        (100, 4, 4),
        (1024, 32, 32),
        (4096, 32, 32),
        (4096, None, 0),  # CPU count unknown: one, so no workers
    ],
)
def test_auto_workers(hosts: int, cpus: int | None, workers: int) -> None:
    assert auto_workers(hosts, cpus) == workers


def test_every_check_of_a_host_is_one_scope() -> None:
    config = SimpleNamespace(
        getvalue=lambda name: ["popen", "popen"] if name == "tx" else None,
        option=SimpleNamespace(maxschedchunk=None),
    )
    sched = HostScheduling(config, None, HOSTS)
    ids = [
        "checks/test_base.py::test_ssh[gpu02]",
        "checks/test_base.py::test_ssh[cp1]",
        "checks/test_infiniband.py::test_hca_port[gpu02-mlx5_4]",
        "checks/test_infiniband.py::test_ib_link_errors[gpu02-mlx5_4]",
        "checks/test_slurm.py::test_cluster_wide",
    ]
    scopes = [sched._split_scope(i) for i in ids]
    assert scopes == ["gpu02", "cp1", "gpu02", "gpu02", "checks/test_slurm.py::test_cluster_wide"]


def test_first_readings_travel_to_a_worker_unchanged() -> None:
    counters = PortCounters(7, 1, "0x5A00", {"SymbolErrorCounter": 3, "PortXmitData": 2**40})
    readings = FirstReadings(
        {
            ("gpu01", "mlx5_0", 1): (counters, 1234.5),
            ("gpu01", "mlx5_3", 1): NotRun("gpu01 mlx5_3 perfquery", "exit 9"),
        }
    )
    plain = readings.to_plain()
    assert all(isinstance(v, str | int | float | dict | type(None)) for row in plain for v in row)
    assert FirstReadings.from_plain(plain) == readings


def test_the_suite_runs_host_by_host_on_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The conftest's hooks pick the scheduler and the worker count from the selected hosts."""
    from trainbed.checks import conftest

    monkeypatch.setattr(conftest, "_selected", lambda path, limit: HOSTS)
    config = SimpleNamespace(
        getoption=lambda name: None,
        getvalue=lambda name: ["popen", "popen"] if name == "tx" else None,
        option=SimpleNamespace(maxschedchunk=None),
    )
    monkeypatch.setattr(scheduling, "cpu_count", lambda: 8)
    assert conftest.pytest_xdist_auto_num_workers(config) == 0  # 4 hosts
    sched = conftest.pytest_xdist_make_scheduler(config, None)
    assert isinstance(sched, HostScheduling) and sched.hostnames == HOSTS
