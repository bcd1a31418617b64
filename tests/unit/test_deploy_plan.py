"""The production deploy planned against pyinfra @fake hosts answering as Ubuntu 22.04.

CI cannot run the real XE9680 path, so these tests read the commands pyinfra would run (`-vvv`
prints each) and assert the packages, versions, holds, units and secrets handling per role.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import PROD_YAML, REPO

FAKE_INVENTORY = REPO / "tests" / "fixtures" / "pyinfra" / "fake_prod.py"
PASSWORD = "pw-that-must-not-leak-7f3a"


def _site(tmp: Path) -> Path:
    shutil.copy(PROD_YAML, tmp / "prod.yaml")
    (tmp / "keys").mkdir()
    for key in ("cuda-archive-keyring.gpg", "doca.asc", "site-slurm.asc"):
        (tmp / "keys" / key).write_text(f"public key {key}\n")
    return tmp / "prod.yaml"


def _deploy(tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "TRAINBED_INVENTORY": str(_site(tmp)),
        "TRAINBED_SLURMDBD_PASSWORD": PASSWORD,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "pyinfra", str(FAKE_INVENTORY), "deploy/cluster.py", "-y", "-vvv"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environ,
        timeout=300,
    )


@cache
def _plan(tmp: str) -> str:
    proc = _deploy(Path(tmp))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _plan(str(tmp_path_factory.mktemp("site")))


def commands(plan: str, host: str) -> list[str]:
    prefix = f"[@fake/{host}]"
    return [
        line.split(">>> ", 1)[1]
        for line in plan.splitlines()
        if line.startswith(prefix) and ">>> " in line
    ]


def test_compute_gets_the_exact_driver_stack_held(plan: str) -> None:
    cmds = commands(plan, "gpu01")
    install = next(c for c in cmds if "nvidia-driver-535-server=" in c)
    for spec in (
        "nvidia-driver-535-server=535.183.01-0ubuntu0.22.04.1",
        "nvidia-fabricmanager-535=535.183.01-1",
        "datacenter-gpu-manager=1:3.3.6",
        "--allow-downgrades",
    ):
        assert spec in install
    assert (
        "apt-mark hold datacenter-gpu-manager libnvidia-nscq-535 nvidia-driver-535-server nvidia-fabricmanager-535"
        in cmds
    )
    for unit in ("nvidia-fabricmanager", "nvidia-persistenced", "nvidia-dcgm", "slurmd", "munge"):
        assert f"systemctl enable {unit}.service" in cmds
    assert "systemctl start systemd-modules-load.service" in cmds or any(
        "systemd-modules-load" in c for c in cmds
    )


def test_compute_infiniband_and_slurm_packages(plan: str) -> None:
    cmds = commands(plan, "gpu03")
    joined = "\n".join(cmds)
    for spec in (
        "doca-ofed=2.7.0-0.0.1",
        "perftest=24.04.0-0.41.g6f7ff39.2404066",
        "slurm-smd-slurmd=23.02.4-1",
        "munge=0.5.14-6",
    ):
        assert spec in joined
    assert "slurm-smd-slurmctld" not in joined and "opensm=" not in joined
    assert "apt-get -y" in joined and "unattended-upgrades" not in joined.split("install")[-1]


def test_subnet_managers_one_instance_per_rail(plan: str) -> None:
    for host in ("cp1", "cp2"):
        cmds = commands(plan, host)
        for rail in range(8):
            assert f"systemctl enable opensm@rail{rail}.service" in cmds
        assert any("opensm=5.19.0.MLNX20240517.c0a6c3c3-0.1.2404066" in c for c in cmds)
    assert not any("opensm@" in c for c in commands(plan, "cp3"))
    assert not any("opensm@" in c for c in commands(plan, "gpu01"))


def test_controllers_and_accounting(plan: str) -> None:
    assert "systemctl enable slurmctld.service" in commands(plan, "cp1")
    assert "systemctl enable slurmctld.service" in commands(plan, "cp2")
    cp3 = commands(plan, "cp3")
    assert "systemctl enable slurmdbd.service" in cp3
    assert "mysql < /var/lib/trainbed/slurmdbd-grant.sql" in cp3
    assert any("mariadb-server=1:10.6.16-0ubuntu0.22.04.1" in c for c in cp3)
    assert not any("slurmctld" in c for c in commands(plan, "gpu02"))


def test_munge_key_made_on_the_primary_only(plan: str) -> None:
    assert any("dd if=/dev/urandom of=/etc/munge/munge.key" in c for c in commands(plan, "cp1"))
    for host in ("cp2", "cp3", "gpu01"):
        assert not any("/dev/urandom" in c for c in commands(plan, host))
        assert "chmod 400 /etc/munge/munge.key" in commands(plan, host)


def test_no_secret_in_output(plan: str) -> None:
    assert PASSWORD not in plan
    assert "IDENTIFIED BY" not in plan


def test_storage_units(plan: str) -> None:
    gpu = commands(plan, "gpu01")
    assert "systemctl enable mnt-datasets.mount" in gpu
    assert "systemctl enable home.automount" in gpu
    assert "systemctl enable var-spool-slurmctld.mount" not in gpu
    assert "systemctl enable var-spool-slurmctld.mount" in commands(plan, "cp2")


def test_containers_enroot_and_pyxis(plan: str) -> None:
    gpu = commands(plan, "gpu02")
    install = next(c for c in gpu if "enroot=" in c)
    for spec in ("enroot=3.4.1-1", "enroot+caps=3.4.1-1", "nvslurm-plugin-pyxis=0.16.1-1"):
        assert spec in install
    assert "apt-mark hold enroot enroot+caps nvslurm-plugin-pyxis" in gpu
    for path in ("/raid/enroot/data", "/raid/enroot/cache", "/raid/enroot/tmp"):
        assert any(f"mkdir -p {path}" in c for c in gpu), path
        assert any(f"chmod 1777 {path}" in c for c in gpu), path
    assert any("/etc/slurm/plugstack.conf.d" in c for c in gpu)
    login = commands(plan, "cp1")
    login_install = next(c for c in login if "nvslurm-plugin-pyxis=0.16.1-1" in c)
    assert "enroot=3.4.1-1" in login_install  # pyxis depends on it: locked too
    assert "enroot+caps" not in login_install
    assert not any("pyxis" in c for c in commands(plan, "cp3"))


def test_wrong_os_release_is_refused(tmp_path: Path) -> None:
    proc = _deploy(tmp_path, TRAINBED_FAKE_OS_RELEASE="ubuntu-20.04")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "runs ubuntu-20.04, the inventory says ubuntu-22.04: not touched" in out
    assert "apt-get" not in out


def test_kernel_locked_everywhere(plan: str) -> None:
    for host in ("cp1", "gpu04"):
        cmds = commands(plan, host)
        install = next(c for c in cmds if "linux-image-5.15.0-105-generic=" in c)
        assert "linux-headers-5.15.0-105-generic=5.15.0-105.115" in install
        assert any(
            c.startswith("apt-mark hold ") and "linux-image-5.15.0-105-generic" in c for c in cmds
        )


def _commands_in_order(plan: str) -> list[tuple[str, str]]:
    """(host, command) in the order they ran; a multi-line command keeps its following lines."""
    ran: list[tuple[str, str]] = []
    for line in plan.splitlines():
        if line.startswith("[@fake/") and ">>> " in line:
            host = line[len("[@fake/") : line.index("]")]
            ran.append((host, line.split(">>> ", 1)[1]))
        elif ran and not line.lstrip().startswith(("[", "-->")) and line.strip():
            host, text = ran[-1]
            ran[-1] = (host, f"{text}\n{line}")
    return ran


def _first(plan: str, hosts: tuple[str, ...], *needles: str) -> int:
    """Position of the first command on one of `hosts` containing one of `needles`."""
    for number, (host, command) in enumerate(_commands_in_order(plan)):
        if host in hosts and any(n in command for n in needles):
            return number
    raise AssertionError(f"no command with {needles} on {hosts}")


def _starts(unit: str) -> tuple[str, str]:
    return (f"systemctl start {unit}.service", f"systemctl restart {unit}.service")


def test_accounting_answers_before_any_controller_starts(plan: str) -> None:
    """pyinfra runs operation by operation across hosts: cp3's MariaDB and slurmdbd are started
    and waited on (listening on 6819) before slurmctld starts or restarts on cp1 or cp2."""
    mariadb = _first(plan, ("cp3",), *_starts("mariadb"))
    slurmdbd = _first(plan, ("cp3",), *_starts("slurmdbd"))
    controller = _first(plan, ("cp1", "cp2"), *_starts("slurmctld"))
    assert mariadb < slurmdbd < controller
    assert _first(plan, ("cp3",), "wait_active slurmdbd 6819") < controller


def test_controllers_up_before_any_slurmd(plan: str) -> None:
    controller_up = _first(plan, ("cp1", "cp2"), "wait_active slurmctld 6817")
    compute = ("gpu01", "gpu02", "gpu03", "gpu04", "gpu05", "gpu06")
    assert controller_up < _first(plan, compute, *_starts("slurmd"))


def test_primary_munge_key_before_any_other_munge_restart(plan: str) -> None:
    made = _first(plan, ("cp1",), "dd if=/dev/urandom of=/etc/munge/munge.key")
    others = ("cp2", "cp3", "gpu01", "gpu02", "gpu03", "gpu04", "gpu05", "gpu06")
    assert made < _first(plan, others, *_starts("munge"))
    lines = plan.splitlines()
    made_line = next(i for i, line in enumerate(lines) if "dd if=/dev/urandom" in line)
    copy = next(i for i, line in enumerate(lines) if "Copy the cluster munge key from cp1" in line)
    assert made_line < copy


def test_every_daemon_started_is_proved_active(plan: str) -> None:
    """After each start, a bounded wait for the unit on that host (the fake hosts start all)."""
    for host, units in {
        "cp1": ("munge", "slurmctld", "opensm@rail0", "opensm@rail7"),
        "cp3": ("munge", "mariadb", "slurmdbd"),
        "gpu02": ("munge", "slurmd", "nvidia-fabricmanager", "nvidia-persistenced", "nvidia-dcgm"),
    }.items():
        for unit in units:
            started = _first(plan, (host,), *_starts(unit))
            assert started < _first(plan, (host,), f"wait_active {unit} "), (host, unit)


def test_without_nvswitch_deploy_and_checks_agree(tmp_path: Path) -> None:
    """`gpus.nvswitch: false`: the deploy neither installs nor starts the fabric manager, and the
    checks expect neither (both read the catalog)."""
    from trainbed.checks import expected
    from trainbed.inventory import load_inventory

    (tmp_path / "site").mkdir()
    (tmp_path / "run").mkdir()
    site = _site(tmp_path / "site")
    site.write_text(site.read_text().replace("nvswitch: true", "nvswitch: false"))
    proc = _deploy(tmp_path / "run", TRAINBED_INVENTORY=str(site))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    cmds = "\n".join(commands(proc.stdout + proc.stderr, "gpu01"))
    inv = load_inventory(site).inventory
    fm = inv.software.nvidia.fabricmanager
    assert "nvidia-driver-535-server=" in cmds and "nvidia-persistenced" in cmds
    assert "nvidia-fabricmanager" not in cmds and fm.spec not in cmds
    assert "nvidia-fabricmanager" not in expected.units(inv, inv.node("gpu01"))
    assert fm.name not in expected.packages(inv, inv.node("gpu01"))


def test_every_node_gets_its_catalog(plan: str) -> None:
    for host in ("cp1", "cp2", "cp3", "gpu01", "gpu06"):
        cmds = commands(plan, host)
        assert "chmod 644 /etc/trainbed/catalog.json" in cmds, host
