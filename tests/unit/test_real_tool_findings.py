"""Defects the real programs found in the rendered configuration (issue 16), one test each.

Each was seen with the real daemon (slurmctld/slurmdbd 22.05.8, opensm 3.3.23, enroot) in a
container; the tests pin the rendered files so the defect cannot come back.
"""

from __future__ import annotations

import configparser
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROD_YAML
from trainbed.catalog import compile_catalog
from trainbed.checks.expected import PMIX_LIBRARY_COMMAND
from trainbed.inventory import load_inventory
from trainbed.inventory.model import Inventory
from trainbed.inventory.roles import is_slurmdbd_host
from trainbed.render import render_host
from trainbed.render.fabric import opensm_rails

#: Slurm's _check_database_variables (accounting_storage_mysql.c): slurmdbd logs "Database
#: settings not recommended values" for a value under half of these.
SLURMDBD_INNODB = {
    "innodb_buffer_pool_size": 1073741824,
    "innodb_log_file_size": 67108864,
    "innodb_lock_wait_timeout": 900,
}
SIZE = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


@pytest.fixture(scope="module")
def prod() -> Inventory:
    return load_inventory(PROD_YAML).inventory


def _files(inventory: Inventory, host: str) -> dict[str, str]:
    return {path: f.content for path, f in render_host(inventory, host).items()}


def test_enroot_cache_is_per_user(prod: Inventory) -> None:
    # enroot creates its cache with umask 077: a directory per group locks out the group's
    # second user (Permission denied).
    conf = _files(prod, "gpu01")["/etc/enroot/enroot.conf"]
    cache = next(
        line.split(None, 1)[1] for line in conf.splitlines() if line.startswith("ENROOT_CACHE_PATH")
    )
    assert "$(id -u)" in cache and "$(id -g)" not in cache


def test_every_opensm_partition_file_is_rendered(prod: Inventory) -> None:
    hosts = {sm.host for rail in prod.rails for sm in rail.subnet_managers}
    assert hosts
    for host in sorted(hosts):
        files = _files(prod, host)
        confs = [p for p in files if p.startswith("/etc/opensm/opensm-")]
        assert confs, host
        for path in confs:
            named = [
                line.split()[1]
                for line in files[path].splitlines()
                if line.startswith("partition_config_file ")
            ]
            assert named, path
            assert named[0] in files, f"{path} names {named[0]}, which is not rendered"
            assert "Default=0x7fff" in files[named[0]]


def test_each_opensm_instance_has_its_own_cache(prod: Inventory) -> None:
    unit = _files(prod, "cp1")["/etc/systemd/system/opensm@.service"]
    assert "Environment=OSM_CACHE_DIR=/var/cache/opensm/%i" in unit.splitlines()
    assert any(
        line.startswith("ExecStartPre=/usr/bin/mkdir -p") and "/var/cache/opensm/%i" in line
        for line in unit.splitlines()
    )


def test_opensm_restarts_when_its_partitions_change(prod: Inventory) -> None:
    catalog = compile_catalog(prod, "cp1")
    for rail, _ in opensm_rails(prod, "cp1"):
        trigger = next(t for t in catalog.triggers if t.unit == f"opensm@{rail.name}")
        assert f"/etc/opensm/partitions-{rail.name}.conf" in trigger.on


def test_pyxis_container_scope_is_stated_as_a_choice(prod: Inventory) -> None:
    # pyxis 0.16.x defaults to container_scope=job: `global` is trainbed's choice, not the default.
    conf = _files(prod, "gpu01")["/etc/slurm/plugstack.conf.d/pyxis.conf"]
    assert "container_scope=global" in conf
    assert any("container_scope" in line and line.startswith("#") for line in conf.splitlines())


def _size(value: str) -> int:
    return int(value[:-1]) * SIZE[value[-1]] if value[-1] in SIZE else int(value)


def test_mariadb_has_the_innodb_settings_slurmdbd_checks(prod: Inventory) -> None:
    host = next(n.hostname for n in prod.nodes if is_slurmdbd_host(prod, n))
    files = _files(prod, host)
    cnf = [p for p in files if p.startswith("/etc/mysql/mariadb.conf.d/")]
    assert len(cnf) == 1
    parser = configparser.ConfigParser()
    parser.read_string(files[cnf[0]])
    for key, recommended in SLURMDBD_INNODB.items():
        assert _size(parser["mysqld"][key]) >= recommended, key


def test_mariadb_restarts_when_its_settings_change(prod: Inventory) -> None:
    host = next(n.hostname for n in prod.nodes if is_slurmdbd_host(prod, n))
    catalog = compile_catalog(prod, host)
    trigger = next(t for t in catalog.triggers if t.unit == "mariadb")
    assert any(p.startswith("/etc/mysql/mariadb.conf.d/") for p in trigger.on)


def test_slurm_names_a_mail_program_that_exists(prod: Inventory) -> None:
    # slurmctld logs "Configured MailProg is invalid" when MailProg (default /bin/mail) is not
    # executable; nothing installs a mail program.
    conf = _files(prod, "cp1")["/etc/slurm/slurm.conf"]
    mail = [line.split("=", 1)[1] for line in conf.splitlines() if line.startswith("MailProg=")]
    assert mail == ["/bin/true"]


def _plugin(tmp_path: Path, libdir: Path) -> Path:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "mpi_pmix_v4.so").write_bytes(
        b"\x7fELF\0\0" + str(libdir).encode() + b"\0libpmix.so\0"
    )
    return plugins


def _pmix_rc(plugins: Path) -> int:
    return subprocess.run(
        ["bash", "-c", PMIX_LIBRARY_COMMAND.replace("%s", str(plugins))], check=False
    ).returncode


def test_pmix_check_fails_when_the_library_the_plugin_loads_is_absent(tmp_path: Path) -> None:
    # Debian 12's mpi_pmix_v4.so dlopens /usr/lib/x86_64-linux-gnu/pmix2/lib/libpmix.so, which
    # only libpmix-dev ships: with the plugin file alone slurmd logs "can not load PMIx library".
    libdir = tmp_path / "pmix2" / "lib"
    libdir.mkdir(parents=True)
    plugins = _plugin(tmp_path, libdir)
    assert _pmix_rc(plugins) != 0
    (libdir / "libpmix.so").write_bytes(b"")
    assert _pmix_rc(plugins) == 0
