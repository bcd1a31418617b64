"""Per-series values of the rendered Slurm files (trainbed/render/slurm_series.py), as data."""

from __future__ import annotations

import dataclasses

import pytest

from tests.conftest import REPO
from trainbed.inventory import load_inventory
from trainbed.inventory.model import Inventory
from trainbed.inventory.rules import SUPPORTED_SLURM_SERIES
from trainbed.render.slurm import mariadb_conf, slurm_conf, slurmdbd_conf
from trainbed.render.slurm_series import SERIES, series_of


def _at(version: str) -> Inventory:
    inv = load_inventory(REPO / "inventory" / "mock.yaml").inventory
    slurm = dataclasses.replace(inv.software.slurm, version=version)
    return dataclasses.replace(inv, software=dataclasses.replace(inv.software, slurm=slurm))


def test_every_supported_series_has_its_values() -> None:
    assert tuple(SERIES) == SUPPORTED_SLURM_SERIES


# version, slurm.conf line, slurmdbd.conf line, MariaDB buffer pool line
RENDERED = [
    ("22.05.8", "SlurmctldPidFile=/run/slurmctld.pid", "PidFile=/run/slurmdbd.pid", "=1G"),
    ("23.02.4", "SlurmctldPidFile=/run/slurmctld.pid", "PidFile=/run/slurmdbd.pid", "=1G"),
    (
        "23.11.10",
        "SlurmctldPidFile=/run/slurmctld/slurmctld.pid",
        "PidFile=/run/slurmdbd/slurmdbd.pid",
        "=4G",
    ),
    (
        "24.11.5",
        "SlurmctldPidFile=/run/slurmctld/slurmctld.pid",
        "PidFile=/run/slurmdbd/slurmdbd.pid",
        "=4G",
    ),
]


@pytest.mark.parametrize(("version", "ctld", "dbd", "pool"), RENDERED)
def test_rendered_per_series(version: str, ctld: str, dbd: str, pool: str) -> None:
    inv = _at(version)
    assert ctld in slurm_conf(inv).splitlines()
    assert dbd in slurmdbd_conf(inv, "pw").splitlines()
    assert f"innodb_buffer_pool_size{pool}" in mariadb_conf(inv).splitlines()
    assert "innodb_lock_wait_timeout=900" in mariadb_conf(inv).splitlines()


def test_series_of() -> None:
    assert series_of("24.11.5") == "24.11"
    assert series_of("22.05.8") == "22.05"
