"""`scontrol show config` (real output, Slurm 22.05) against the rendered slurm.conf."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.conftest import REPO
from trainbed.checks.slurm_config import Mismatch, compare, parse_show_config, parse_slurm_conf
from trainbed.inventory import load_inventory
from trainbed.render.slurm import slurm_conf

FIXTURE = Path(__file__).parents[1] / "fixtures" / "checks" / "scontrol_show_config_22.05.txt"


@pytest.fixture(scope="module")
def rendered() -> str:
    """slurm.conf of the mock inventory as the cluster the fixture came from ran it."""
    inv = load_inventory(REPO / "inventory" / "mock.yaml").inventory
    # It ran before the health program was wired into slurm.conf.
    inv = dataclasses.replace(
        inv, health=dataclasses.replace(inv.health, interval_s=0, prolog=False, epilog=False)
    )
    # ... and before MailProg was set (it shows Slurm's default, /bin/mail).
    text = "".join(
        line
        for line in slurm_conf(inv).splitlines(keepends=True)
        if not line.startswith("MailProg=")
    )
    # The fixture's cluster was brought up as tb-checks on 172.31.251.0/24 with 4 compute nodes.
    return text.replace("ClusterName=trainbed-mock", "ClusterName=tb-checks").replace(
        "172.31.250.", "172.31.251."
    )


@pytest.fixture(scope="module")
def shown() -> str:
    return FIXTURE.read_text()


def test_parse_show_config(shown: str) -> None:
    config = parse_show_config(shown)
    assert config["SlurmctldHost"] == ["cp1(172.31.251.11)"]
    assert config["SlurmdTimeout"] == ["300 sec"]
    assert config["PluginDir"] == ["/usr/lib/x86_64-linux-gnu/slurm-wlm"]
    assert config["PowerPlugin"] == [""]
    assert "Slurmctld(primary)" not in config


def test_parse_slurm_conf_skips_nodes_partitions_and_comments(rendered: str) -> None:
    conf = parse_slurm_conf(rendered)
    assert "NodeName" not in conf and "PartitionName" not in conf
    assert conf["ClusterName"] == ["tb-checks"]


def test_running_config_agrees_with_the_render(rendered: str, shown: str) -> None:
    assert compare(rendered, shown) == []


@pytest.mark.parametrize(
    ("change", "mismatch"),
    [
        (("SlurmdTimeout=300", "SlurmdTimeout=600"), Mismatch("SlurmdTimeout", "600", "300 sec")),
        (
            ("ProctrackType=proctrack/linuxproc", "ProctrackType=proctrack/cgroup"),
            Mismatch("ProctrackType", "proctrack/cgroup", "proctrack/linuxproc"),
        ),
        (
            ("AccountingStorageTRES=gres/gpu", "AccountingStorageTRES=gres/gpu,license/x"),
            Mismatch(
                "AccountingStorageTRES",
                "gres/gpu,license/x",
                "cpu,mem,energy,node,billing,fs/disk,vmem,pages,gres/gpu",
            ),
        ),
        (("SlurmUser=slurm", "SlurmUser=slurm2"), Mismatch("SlurmUser", "slurm2", "slurm(991)")),
        (
            ("Waittime=0", "Waittime=0\nHealthCheckProgram=/usr/sbin/nhc"),
            Mismatch("HealthCheckProgram", "/usr/sbin/nhc", "(null)"),
        ),
        (("Waittime=0", "NoSuchKey=1"), Mismatch("NoSuchKey", "1", None)),
    ],
)
def test_a_difference_is_named(rendered: str, shown: str, change, mismatch: Mismatch) -> None:
    old, new = change
    assert old in rendered
    assert compare(rendered.replace(old, new), shown) == [mismatch]


def test_mismatch_reads_expected_vs_actual() -> None:
    assert str(Mismatch("SlurmdTimeout", "600", "300 sec")) == (
        "SlurmdTimeout: expected 600, got 300 sec"
    )
    assert str(Mismatch("X", "1", None)) == "X: expected 1, got not set"


def test_backup_controllers_are_compared_in_order() -> None:
    conf = "SlurmctldHost=cp1(10.0.0.1)\nSlurmctldHost=cp2(10.0.0.2)\n"
    shown = "SlurmctldHost[0]        = cp1(10.0.0.1)\nSlurmctldHost[1]        = cp2(10.0.0.2)\n"
    assert compare(conf, shown) == []
    swapped = shown.replace("cp1(10.0.0.1)", "X").replace("cp2(10.0.0.2)", "cp1(10.0.0.1)")
    assert compare(conf, swapped.replace("X", "cp2(10.0.0.2)"))[0].key == "SlurmctldHost"


#: `scontrol show config` of Slurm 24.11.5 (Debian 13's slurmctld) on the lab's Debian 13
#: cluster (`lab/up --release trixie`, cluster trainbed-mock-trixie on 172.31.233.0/24) after a
#: deploy: from 23.11 task/none, mpi/none and jobcomp/none are no plugins and show as (null).
FIXTURE_24_11 = FIXTURE.with_name("scontrol_show_config_24.11.txt")


@pytest.fixture(scope="module")
def rendered_24_11() -> str:
    inv = load_inventory(REPO / "inventory" / "mock.yaml").inventory
    slurm = dataclasses.replace(inv.software.slurm, version="24.11.5")
    inv = dataclasses.replace(inv, software=dataclasses.replace(inv.software, slurm=slurm))
    return (
        slurm_conf(inv)
        .replace("ClusterName=trainbed-mock", "ClusterName=trainbed-mock-trixie")
        .replace("172.31.250.", "172.31.233.")
    )


def test_running_config_of_slurm_24_11_agrees_with_the_render(rendered_24_11: str) -> None:
    shown = FIXTURE_24_11.read_text()
    assert parse_show_config(shown)["TaskPlugin"] == ["(null)"]
    assert compare(rendered_24_11, shown) == []


@pytest.mark.parametrize(
    ("change", "mismatch"),
    [
        (
            ("TaskPlugin=task/none", "TaskPlugin=task/affinity"),
            Mismatch("TaskPlugin", "task/affinity", "(null)"),
        ),
        (
            (
                "SlurmctldPidFile=/run/slurmctld/slurmctld.pid",
                "SlurmctldPidFile=/run/slurmctld.pid",
            ),
            Mismatch("SlurmctldPidFile", "/run/slurmctld.pid", "/run/slurmctld/slurmctld.pid"),
        ),
    ],
)
def test_null_is_none_only_for_a_none_plugin(rendered_24_11: str, change, mismatch) -> None:
    old, new = change
    assert old in rendered_24_11
    assert compare(rendered_24_11.replace(old, new), FIXTURE_24_11.read_text()) == [mismatch]
