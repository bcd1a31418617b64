"""Small rendering functions whose rules are easy to get wrong."""

from __future__ import annotations

import pytest

from tests.conftest import PROD_YAML
from trainbed.inventory import load_inventory
from trainbed.render.fabric import nccl_environment, opensm_rails
from trainbed.render.packages import locked_packages
from trainbed.render.slurm import node_lines, partition_lines
from trainbed.render.storage import unit_name


@pytest.mark.parametrize(
    ("path", "unit"),
    [
        ("/mnt/datasets", "mnt-datasets.mount"),
        ("/home", "home.mount"),
        ("/", "-.mount"),
        ("/mnt/my-data", "mnt-my\\x2ddata.mount"),
        ("/srv/a.b/c", "srv-a.b-c.mount"),
        ("/mnt/.hidden", "mnt-.hidden.mount"),
        ("/.x", "\\x2ex.mount"),
    ],
)
def test_unit_name_matches_systemd_escape(path: str, unit: str) -> None:
    assert unit_name(path) == unit


def test_nccl_hcas_in_rail_order_and_exact() -> None:
    inv = load_inventory(PROD_YAML).inventory
    env = nccl_environment(inv, inv.node("gpu03"))
    assert env["NCCL_IB_HCA"].startswith("=mlx5_0:1,mlx5_3:1,")
    assert env["NCCL_IB_HCA"].count(",") == 7
    assert "NCCL_IB_GID_INDEX" not in env


def test_subnet_manager_priorities() -> None:
    inv = load_inventory(PROD_YAML).inventory
    assert [(r.name, p) for r, p in opensm_rails(inv, "cp2")][:2] == [("rail0", 14), ("rail1", 14)]
    assert opensm_rails(inv, "cp3") == []


def test_locked_packages_by_role() -> None:
    inv = load_inventory(PROD_YAML).inventory
    names = {
        n: {p.name for p in locked_packages(inv, inv.node(n))} for n in ("cp1", "cp3", "gpu01")
    }
    assert {
        "nvidia-driver-535-server",
        "nvidia-fabricmanager-535",
        "slurm-smd-slurmd",
        "perftest",
    } <= names["gpu01"]
    assert "opensm" in names["cp1"] and "slurm-smd-slurmctld" in names["cp1"]
    assert "nvidia-driver-535-server" not in names["cp1"]
    assert {"slurm-smd-slurmdbd", "mariadb-server"} <= names["cp3"] and "opensm" not in names["cp3"]


def test_slurm_lines() -> None:
    inv = load_inventory(PROD_YAML).inventory
    assert node_lines(inv) == [
        "NodeName=gpu[01-06] CPUs=224 Sockets=2 CoresPerSocket=56 ThreadsPerCore=2 "
        "RealMemory=2000000 Gres=gpu:8 State=UNKNOWN"
    ]
    assert partition_lines(inv) == [
        "PartitionName=gpu Nodes=gpu[01-06] Default=YES MaxTime=INFINITE State=UP"
    ]
