"""The production deploy planned against pyinfra @fake hosts answering as Ubuntu 22.04.

CI cannot run the real XE9680 path, so these tests run the deploy through pyinfra's API
(tests/fixtures/pyinfra/plan.py) and assert on the plan as data: the operations in the order
pyinfra ran them across hosts, and per host the commands each one executed (fact-gathering
commands are not operations, so they cannot satisfy an assertion).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import PROD_YAML, REPO

FAKE_INVENTORY = REPO / "tests" / "fixtures" / "pyinfra" / "fake_prod.py"
PLANNER = REPO / "tests" / "fixtures" / "pyinfra" / "plan.py"
PASSWORD = "pw-that-must-not-leak-7f3a"
COMPUTE = ("gpu01", "gpu02", "gpu03", "gpu04", "gpu05", "gpu06")


@dataclass(frozen=True)
class Plan:
    """What the deploy ran: per operation (in order), host → the commands it executed there."""

    ops: tuple[dict[str, tuple[str, ...]], ...]
    names: tuple[tuple[str, ...], ...]
    failed: tuple[str, ...]
    log: str  # pyinfra's output at -vvv's verbosity, for what must never be printed

    def commands(self, host: str) -> list[str]:
        """Every command the operations ran on `host`, in order."""
        return [command for op in self.ops for command in op.get(host, ())]

    def first(self, hosts: tuple[str, ...], *needles: str) -> int:
        """Index of the first operation running, on one of `hosts`, a command containing a needle."""
        for index, op in enumerate(self.ops):
            if any(n in c for host in hosts for c in op.get(host, ()) for n in needles):
                return index
        raise AssertionError(f"no operation runs a command with {needles} on {hosts}")


def _site(tmp: Path) -> Path:
    shutil.copy(PROD_YAML, tmp / "prod.yaml")
    (tmp / "keys").mkdir()
    for key in ("cuda-archive-keyring.gpg", "doca.asc", "site-slurm.asc"):
        (tmp / "keys" / key).write_text(f"public key {key}\n")
    return tmp / "prod.yaml"


def _deploy(tmp: Path, **env: str) -> Plan:
    environ = {
        **os.environ,
        "TRAINBED_INVENTORY": str(_site(tmp)),
        "TRAINBED_SLURMDBD_PASSWORD": PASSWORD,
        **env,
    }
    proc = subprocess.run(
        [sys.executable, str(PLANNER), str(FAKE_INVENTORY), "deploy/cluster.py"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={
            **environ,
            "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), environ.get("PYTHONPATH")))),
        },
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(proc.stdout)
    return Plan(
        ops=tuple({h: tuple(c) for h, c in op["hosts"].items()} for op in data["ops"]),
        names=tuple(tuple(op["names"]) for op in data["ops"]),
        failed=tuple(data["failed"]),
        log=proc.stderr,
    )


@cache
def _plan(tmp: str) -> Plan:
    plan = _deploy(Path(tmp))
    assert not plan.failed, plan.log[-3000:]
    return plan


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return _plan(str(tmp_path_factory.mktemp("site")))


def _starts(unit: str) -> tuple[str, str]:
    return (f"systemctl start {unit}.service", f"systemctl restart {unit}.service")


def _install(commands: list[str], spec: str) -> str:
    """The apt-get install command that installs `spec` (`name=version`)."""
    found = [c for c in commands if " install " in c and spec in c.split()]
    assert len(found) == 1, (spec, found)
    return found[0]


def test_compute_gets_the_exact_driver_stack_held(plan: Plan) -> None:
    cmds = plan.commands("gpu01")
    install = _install(cmds, "nvidia-driver-535-server=535.183.01-0ubuntu0.22.04.1")
    for spec in (
        "nvidia-fabricmanager-535=535.183.01-1",
        "datacenter-gpu-manager=1:3.3.6",
        "--allow-downgrades",
    ):
        assert spec in install.split()
    assert (
        "apt-mark hold datacenter-gpu-manager libnvidia-nscq-535 nvidia-driver-535-server nvidia-fabricmanager-535"
        in cmds
    )
    for unit in ("nvidia-fabricmanager", "nvidia-persistenced", "nvidia-dcgm", "slurmd", "munge"):
        assert f"systemctl enable {unit}.service" in cmds
    # nvidia-peermem is configured, then loaded now (not only at the next boot).
    configured = plan.first(("gpu01",), "upload /etc/modules-load.d/nvidia-peermem.conf")
    assert configured < plan.first(("gpu01",), *_starts("systemd-modules-load"))


def test_compute_infiniband_and_slurm_packages(plan: Plan) -> None:
    cmds = plan.commands("gpu03")
    for spec in (
        "doca-ofed=2.7.0-0.0.1",
        "perftest=24.04.0-0.41.g6f7ff39.2404066",
        "slurm-smd-slurmd=23.02.4-1",
        "munge=0.5.14-6",
    ):
        assert "apt-get -y" in _install(cmds, spec)
    assert not any("slurm-smd-slurmctld" in c or "opensm=" in c for c in cmds)
    installs = [c for c in cmds if " install " in c]
    assert installs and not any("unattended-upgrades" in c for c in installs)


def test_unattended_upgrades_removed_from_compute_only(plan: Plan) -> None:
    """The fake hosts have unattended-upgrades installed, as an Ubuntu 22.04 server image does."""
    for host in COMPUTE:
        removes = [c for c in plan.commands(host) if " remove " in c]
        assert len(removes) == 1 and removes[0].split()[-1] == "unattended-upgrades", removes
    for host in ("cp1", "cp2", "cp3"):
        assert not any("unattended-upgrades" in c for c in plan.commands(host))


def test_subnet_managers_one_instance_per_rail(plan: Plan) -> None:
    for host in ("cp1", "cp2"):
        cmds = plan.commands(host)
        for rail in range(8):
            assert f"systemctl enable opensm@rail{rail}.service" in cmds
        _install(cmds, "opensm=5.19.0.MLNX20240517.c0a6c3c3-0.1.2404066")
    assert not any("opensm@" in c for c in plan.commands("cp3"))
    assert not any("opensm@" in c for c in plan.commands("gpu01"))


def test_controllers_and_accounting(plan: Plan) -> None:
    assert "systemctl enable slurmctld.service" in plan.commands("cp1")
    assert "systemctl enable slurmctld.service" in plan.commands("cp2")
    cp3 = plan.commands("cp3")
    assert "systemctl enable slurmdbd.service" in cp3
    assert "mariadb < /var/lib/trainbed/slurmdbd-grant.sql" in cp3
    _install(cp3, "mariadb-server=1:10.6.16-0ubuntu0.22.04.1")
    assert not any("slurmctld" in c for c in plan.commands("gpu02"))


def test_munge_key_made_on_the_primary_only(plan: Plan) -> None:
    assert any("dd if=/dev/urandom of=/etc/munge/munge.key" in c for c in plan.commands("cp1"))
    for host in ("cp2", "cp3", "gpu01"):
        assert not any("/dev/urandom" in c for c in plan.commands(host))
        assert "chmod 400 /etc/munge/munge.key" in plan.commands(host)


def test_no_secret_in_output(plan: Plan) -> None:
    everything = "\n".join([plan.log, *(c for op in plan.ops for cs in op.values() for c in cs)])
    assert "mariadb < /var/lib/trainbed/slurmdbd-grant.sql" in plan.commands("cp3")  # it was used
    assert ">>> mariadb < /var/lib/trainbed/slurmdbd-grant.sql" in plan.log  # commands are logged
    assert PASSWORD not in everything
    assert "IDENTIFIED BY" not in everything


def test_storage_units(plan: Plan) -> None:
    gpu = plan.commands("gpu01")
    assert "systemctl enable mnt-datasets.mount" in gpu
    assert "systemctl enable home.automount" in gpu
    assert "systemctl enable var-spool-slurmctld.mount" not in gpu
    assert "systemctl enable var-spool-slurmctld.mount" in plan.commands("cp2")


def test_containers_enroot_and_pyxis(plan: Plan) -> None:
    gpu = plan.commands("gpu02")
    install = _install(gpu, "enroot=3.4.1-1")
    for spec in ("enroot+caps=3.4.1-1", "nvslurm-plugin-pyxis=0.16.1-1"):
        assert spec in install.split()
    assert "apt-mark hold enroot enroot+caps nvslurm-plugin-pyxis" in gpu
    for path in ("/raid/enroot/data", "/raid/enroot/cache", "/raid/enroot/tmp"):
        assert f"mkdir -p {path}" in gpu, path
        assert f"chmod 1777 {path}" in gpu, path
    assert "upload /etc/slurm/plugstack.conf.d/pyxis.conf" in gpu
    login = plan.commands("cp1")
    login_install = _install(login, "nvslurm-plugin-pyxis=0.16.1-1")
    assert "enroot=3.4.1-1" in login_install.split()  # pyxis depends on it: locked too
    assert not any(spec.startswith("enroot+caps") for spec in login_install.split())
    assert not any("pyxis" in c for c in plan.commands("cp3"))


def test_wrong_os_release_is_refused(tmp_path: Path) -> None:
    refused = _deploy(tmp_path, TRAINBED_FAKE_OS_RELEASE="ubuntu-20.04")
    assert set(refused.failed) == {"cp1", "cp2", "cp3", *COMPUTE}
    assert "gpu01 runs ubuntu-20.04, the inventory says ubuntu-22.04: not touched" in refused.log
    ran = [c for op in refused.ops for cs in op.values() for c in cs]
    assert ran and all(c.startswith("python ") for c in ran), ran  # only the refusal itself


def test_kernel_locked_everywhere(plan: Plan) -> None:
    for host in ("cp1", "gpu04"):
        cmds = plan.commands(host)
        install = _install(cmds, "linux-image-5.15.0-105-generic=5.15.0-105.115")
        assert "linux-headers-5.15.0-105-generic=5.15.0-105.115" in install.split()
        assert any(
            c.startswith("apt-mark hold ") and "linux-image-5.15.0-105-generic" in c.split()
            for c in cmds
        )


def test_accounting_answers_before_any_controller_starts(plan: Plan) -> None:
    """pyinfra runs operation by operation across hosts: cp3's MariaDB and slurmdbd are started
    and waited on (listening on 6819) before slurmctld starts or restarts on cp1 or cp2."""
    mariadb = plan.first(("cp3",), *_starts("mariadb"))
    slurmdbd = plan.first(("cp3",), *_starts("slurmdbd"))
    controller = plan.first(("cp1", "cp2"), *_starts("slurmctld"))
    assert mariadb < slurmdbd < controller
    assert plan.first(("cp3",), "wait_active slurmdbd 6819") < controller


def test_controllers_up_before_any_slurmd(plan: Plan) -> None:
    controller_up = plan.first(("cp1", "cp2"), "wait_active slurmctld 6817")
    assert controller_up < plan.first(COMPUTE, *_starts("slurmd"))


def test_primary_munge_key_before_any_other_munge_restart(plan: Plan) -> None:
    made = plan.first(("cp1",), "dd if=/dev/urandom of=/etc/munge/munge.key")
    others = ("cp2", "cp3", *COMPUTE)
    assert made < plan.first(others, *_starts("munge"))
    copies = [
        index
        for index, (op, names) in enumerate(zip(plan.ops, plan.names, strict=True))
        if any(n.endswith("Copy the cluster munge key from cp1") for n in names)
        and any(op.get(host) for host in others)
    ]
    assert copies and made < min(copies)


def test_every_daemon_started_is_proved_active(plan: Plan) -> None:
    """After each start, a bounded wait for the unit on that host (the fake hosts start all)."""
    for host, units in {
        "cp1": ("munge", "slurmctld", "opensm@rail0", "opensm@rail7"),
        "cp3": ("munge", "mariadb", "slurmdbd"),
        "gpu02": ("munge", "slurmd", "nvidia-fabricmanager", "nvidia-persistenced", "nvidia-dcgm"),
    }.items():
        for unit in units:
            started = plan.first((host,), *_starts(unit))
            assert started < plan.first((host,), f"wait_active {unit} "), (host, unit)


def test_without_nvswitch_deploy_and_checks_agree(tmp_path: Path) -> None:
    """`gpus.nvswitch: false`: the deploy neither installs nor starts the fabric manager, and the
    checks expect neither (both read the catalog)."""
    from trainbed.checks import expected
    from trainbed.inventory import load_inventory

    (tmp_path / "site").mkdir()
    (tmp_path / "run").mkdir()
    site = _site(tmp_path / "site")
    site.write_text(site.read_text().replace("nvswitch: true", "nvswitch: false"))
    plan = _deploy(tmp_path / "run", TRAINBED_INVENTORY=str(site))
    assert not plan.failed, plan.log[-3000:]
    cmds = plan.commands("gpu01")
    inv = load_inventory(site).inventory
    fm = inv.software.nvidia.fabricmanager
    _install(cmds, "nvidia-driver-535-server=535.183.01-0ubuntu0.22.04.1")
    assert any("systemctl enable nvidia-persistenced.service" in c for c in cmds)
    assert not any("nvidia-fabricmanager" in c or fm.spec in c for c in cmds), cmds
    assert "nvidia-fabricmanager" not in expected.units(inv, inv.node("gpu01"))
    assert fm.name not in expected.packages(inv, inv.node("gpu01"))


def test_every_node_gets_its_catalog(plan: Plan) -> None:
    for host in ("cp1", "cp2", "cp3", "gpu01", "gpu06"):
        cmds = plan.commands(host)
        assert "upload /etc/trainbed/catalog.json" in cmds, (
            host,
            [c for c in cmds if "trainbed" in c],
        )


def test_each_missing_directory_made_once_per_host(plan: Plan) -> None:
    """The fake hosts have no files: a parent directory is made by the first write into it only
    (the slurm and containers roles both write into /etc/slurm), owned as ``create_remote_dir``
    owns it; every push writes its files in one operation."""
    for host in ("cp1", "gpu01"):
        cmds = plan.commands(host)
        makes = [c for c in cmds if c.startswith("for d in ") and "mkdir -p" in c]
        made = [d for c in makes for d in c.split(";", 1)[0].split()[3:]]
        assert len(made) == len(set(made)) and "/etc/slurm" in made, makes
        assert all('chown root:root "$d"' in c for c in makes), makes
    gpu = plan.commands("gpu01")
    assert (
        "chmod 755 /usr/local/sbin/trainbed-health /etc/slurm/trainbed-prolog /etc/slurm/trainbed-epilog"
        in gpu
    )
    assert "chmod 1777 /raid/enroot/data" in gpu  # the catalog's directories, as before


def _slurm_states(differing: str) -> dict[str, list[str]]:
    """A fake answer to the slurm role's FileStates read: its directories and files as the
    catalog has them on every host, but for `differing`."""
    from deploy.push import _data
    from trainbed.catalog import compile_catalog
    from trainbed.inventory import load_inventory

    inv = load_inventory(PROD_YAML).inventory
    lines = {}
    for name in ("cp1", "cp2", "cp3", *COMPUTE):
        role = compile_catalog(inv, name).of("slurm")
        for d in role.directories:
            owner = f"{d.owner or 'root'}:{d.group or 'root'}"
            lines[d.path] = f"directory\t{d.path}\t{int(d.mode, 8):o}:{owner}"
        for f in role.files:
            data = _data(f)
            if data is None:
                continue
            digest = hashlib.sha1(data if f.path != differing else b"old").hexdigest()
            lines[f.path] = f"file\t{f.path}\t{int(f.mode, 8):o}:{f.owner}:{f.group}\t{digest}"
            parent = str(Path(f.path).parent)
            lines[parent] = f"directory\t{parent}\t755:root:root"
    return {"for f in /var/log/slurm /var/spool/slurmd": sorted(lines.values())}


def _ran(plan: Plan, host: str, name: str) -> list[str]:
    """The commands the operation called `name` ran on `host`."""
    found = [
        op.get(host, ()) for op, names in zip(plan.ops, plan.names, strict=True) if name in names
    ]
    assert found, name
    return [c for cs in found for c in cs]


def test_one_changed_file_written_alone_and_only_its_triggers_fire(tmp_path: Path) -> None:
    """The slurm files match but one: only that file is written, no directory is touched, and
    only the triggers watching it fire: both reconfigure (on the primary), gres.conf restarts
    slurmd too, slurm.conf alone restarts nothing."""
    for differing, restarts in (("/etc/slurm/gres.conf", True), ("/etc/slurm/slurm.conf", False)):
        run = tmp_path / differing.rsplit("/", 1)[1]
        run.mkdir()
        answers = run / "answers.json"
        answers.write_text(json.dumps(_slurm_states(differing)))
        plan = _deploy(run, TRAINBED_FAKE_RESPONSES=str(answers))
        assert not plan.failed, plan.log[-3000:]
        writes = [
            c
            for op, names in zip(plan.ops, plan.names, strict=True)
            if any(n.startswith("slurm | Write") for n in names)
            for c in op.get("gpu01", ())
        ]
        assert writes == [
            f"upload {differing}",
            f"chown root:root {differing}",
            f"chmod 644 {differing}",
        ]
        for host in ("cp1", "gpu01"):  # the slurm directories are as the catalog has them
            assert not any(c.startswith("mkdir -p /var/") for c in plan.commands(host))
        assert bool(_ran(plan, "gpu01", "slurm | Restart slurmd")) is restarts
        assert not _ran(plan, "cp1", "slurm | Restart slurmctld")
        # Both are files a reconfigure applies (the restart signature did not change).
        assert any("scontrol reconfigure" in c for c in plan.commands("cp1"))


def test_no_fact_per_pushed_file(plan: Plan) -> None:
    """A push reads its files and their directories in one fact: none of pyinfra's per-file facts
    (files.put's File and two Directory lookups each) for them, and no operation per file. A
    compute node's first deploy: 59 operations, 71 facts, 126 commands when this was written (82,
    165 and 218 before); the bounds leave room for new resources, not for a fact per file."""
    from benchmarks.deploy_counts import per_host
    from trainbed.catalog import compile_catalog
    from trainbed.inventory import load_inventory

    catalog = compile_catalog(load_inventory(PROD_YAML).inventory, "gpu01")
    pushed = {f.path for f in catalog.files if not f.secret}
    # /etc: files.link reads it for /etc/localtime (its own create_remote_dir).
    parents = {str(Path(p).parent) for p in pushed} - {"/etc"}
    for line in plan.log.splitlines():
        if "[@fake/gpu01]" in line and "Loaded fact files." in line and "(path=" in line:
            path = line.rsplit("(path=", 1)[1].rstrip(")").strip()
            assert path not in pushed | parents, line
    ops, facts, _ = per_host({"ops": [{"hosts": op} for op in plan.ops]}, plan.log)["gpu01"]
    assert ops <= 65 and facts <= 80, (ops, facts)


def test_accounts_as_the_catalog_has_them_add_no_operation(tmp_path: Path) -> None:
    """Groups munge and slurm exist, user munge as the catalog has it, user slurm with another
    shell: only the slurm user's operation is added, and it changes the shell alone."""
    answers = tmp_path / "answers.json"
    answers.write_text(
        json.dumps(
            {
                "cat /etc/passwd | cut -d: -f1": [
                    "munge:x:990:990::/nonexistent:/usr/sbin/nologin|munge|munge||!",
                    "slurm:x:991:991::/var/lib/slurm:/bin/bash|slurm|slurm||!",
                ],
                "cat /etc/group": ["munge:x:990:", "slurm:x:991:"],
            }
        )
    )
    plan = _deploy(tmp_path, TRAINBED_FAKE_RESPONSES=str(answers))
    assert not plan.failed, plan.log[-3000:]
    accounts = [
        (names, op["gpu01"])
        for op, names in zip(plan.ops, plan.names, strict=True)
        if "gpu01" in op and any("system users" in n for n in names)
    ]
    assert [cmds for _, cmds in accounts] == [("usermod -s /usr/sbin/nologin slurm",)], accounts


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("directory\t/etc/hosts\t755:root:root", "not a directory (/etc/hosts)"),
        ("other\t/etc/chrony", "/etc/chrony exists and is not a directory"),
    ],
)
def test_a_file_where_a_directory_is_or_the_reverse_fails_the_write(
    tmp_path: Path, answer: str, message: str
) -> None:
    """A destination that is a directory, or a parent that is neither a directory nor a link, stops
    the run with pyinfra's error at the write, as files.put does; nothing is uploaded."""
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"for f in /etc/hosts /etc/timezone": [answer]}))
    plan = _deploy(tmp_path, TRAINBED_FAKE_RESPONSES=str(answers))
    assert "--> pyinfra error: " in plan.log, plan.log[-2000:]
    assert message in plan.log.split("--> pyinfra error: ", 1)[1].splitlines()[0]
    assert not any("upload /etc/hosts" in c for op in plan.ops for cs in op.values() for c in cs)


def test_mariadb_restarted_on_its_settings_before_slurmdbd_starts(plan: Plan) -> None:
    """The package starts MariaDB before trainbed's InnoDB settings exist; slurmdbd checks them
    at its start: the settings file's change restarts MariaDB first (it once restarted nothing)."""
    settings = plan.first(("cp3",), "upload /etc/mysql/mariadb.conf.d/90-trainbed-slurmdbd.cnf")
    restarts = [
        index
        for index, (op, names) in enumerate(zip(plan.ops, plan.names, strict=True))
        if any(n.endswith("Restart mariadb") for n in names) and op.get("cp3")
    ]
    assert restarts, "no operation restarts mariadb on cp3"
    assert settings < restarts[0] < plan.first(("cp3",), *_starts("slurmdbd"))
