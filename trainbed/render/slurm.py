"""Slurm configuration: slurm.conf, gres.conf, cgroup.conf, topology.conf, slurmdbd.conf."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from types import MappingProxyType

from trainbed.health import EPILOG_PATH, PROGRAM_PATH, PROLOG_PATH
from trainbed.hostlist import compress_hostlist
from trainbed.inventory.model import ComputeNode, Inventory, Rail, Switch
from trainbed.render.shared import per_inventory
from trainbed.render.slurm_series import slurm_series
from trainbed.render.templates import render

CGROUP_PLUGINS = ("proctrack/cgroup", "task/cgroup")
#: Placeholder `trainbed render` writes where the deploy puts the database password.
PASSWORD_PLACEHOLDER = "<from the password file or environment variable at deploy time>"


#: Where each Slurm daemon listens and logs: the templates write these, the deploy waits on them.
DAEMON_PORTS: Mapping[str, int] = MappingProxyType(
    {"slurmctld": 6817, "slurmd": 6818, "slurmdbd": 6819}
)
DAEMON_LOG_FILES: Mapping[str, str] = MappingProxyType(
    {d: f"/var/log/slurm/{d}.log" for d in ("slurmctld", "slurmd", "slurmdbd")}
)


def uses_cgroup(inventory: Inventory) -> bool:
    """Whether any configured plugin needs cgroup.conf."""
    slurm = inventory.slurm
    return slurm.proctrack_type in CGROUP_PLUGINS or "task/cgroup" in slurm.task_plugins


def _by_profile(inventory: Inventory) -> dict[str, list[ComputeNode]]:
    groups: dict[str, list[ComputeNode]] = defaultdict(list)
    for node in inventory.compute:
        groups[node.profile.name].append(node)
    return groups


def node_lines(inventory: Inventory) -> list[str]:
    """One NodeName line per hardware profile, with the profile's CPUs, memory and GPUs."""
    lines = []
    for nodes in _by_profile(inventory).values():
        profile = nodes[0].profile
        cpu = profile.cpu
        lines.append(
            f"NodeName={compress_hostlist(n.hostname for n in nodes)} CPUs={cpu.cpus} "
            f"Sockets={cpu.sockets} CoresPerSocket={cpu.cores_per_socket} "
            f"ThreadsPerCore={cpu.threads_per_core} RealMemory={profile.real_memory_mb} "
            f"Gres=gpu:{profile.gpus.count} State=UNKNOWN"
        )
    return lines


def partition_lines(inventory: Inventory) -> list[str]:
    return [
        f"PartitionName={p.name} Nodes={compress_hostlist(p.nodes)} "
        f"Default={'YES' if p.default else 'NO'} MaxTime={p.max_time} State={p.state}"
        for p in inventory.slurm.partitions
    ]


#: Kept beside slurm.conf: when it changes, daemons restart; other slurm.conf changes reconfigure.
RESTART_SIGNATURE_PATH = "/etc/slurm/.trainbed-restart-signature"
#: slurm.conf keys that `scontrol reconfigure` cannot apply (slurm.conf(5), "scontrol reconfigure").
RESTART_KEYS = (
    "AuthType",
    "CredType",
    "SlurmctldHost",
    "SlurmctldPort",
    "SlurmdPort",
    "SelectType",
    "SelectTypeParameters",
    "ProctrackType",
    "TaskPlugin",
    "GresTypes",
    "TopologyPlugin",
    "MpiDefault",
    "JobAcctGatherType",
    "AccountingStorageType",
    "PrologFlags",
    "StateSaveLocation",
    "SlurmdSpoolDir",
    "NodeName",
)


@per_inventory
def restart_signature(inventory: Inventory) -> str:
    """The slurm.conf lines whose change needs a daemon restart rather than a reconfigure."""
    lines = [
        line for line in slurm_conf(inventory).splitlines() if line.split("=", 1)[0] in RESTART_KEYS
    ]
    return "\n".join(lines) + "\n"


@per_inventory
def slurm_conf(inventory: Inventory) -> str:
    cgroup = uses_cgroup(inventory)
    return render(
        "slurm.conf.j2",
        inv=inventory,
        source=inventory.source.name,
        job_acct_gather="jobacct_gather/cgroup" if cgroup else "jobacct_gather/linux",
        node_lines=node_lines(inventory),
        partition_lines=partition_lines(inventory),
        ports=DAEMON_PORTS,
        log_files=DAEMON_LOG_FILES,
        health=inventory.health,
        health_program=PROGRAM_PATH,
        prolog=PROLOG_PATH,
        epilog=EPILOG_PATH,
        series=slurm_series(inventory),
    )


@per_inventory
def gres_conf(inventory: Inventory) -> str:
    lines = [
        f"NodeName={compress_hostlist(n.hostname for n in nodes)} Name=gpu "
        f"File={inventory.slurm.gres_device_files}"
        for nodes in _by_profile(inventory).values()
    ]
    return render("gres.conf.j2", inv=inventory, source=inventory.source.name, gres_lines=lines)


@per_inventory
def cgroup_conf(inventory: Inventory) -> str:
    return render("cgroup.conf.j2", inv=inventory, source=inventory.source.name)


def _leaf_of(node: ComputeNode, rail: Rail) -> str | None:
    for hca in node.hcas:
        if hca.rail == rail.name:
            return hca.switch or rail.switch
    return None


def switch_lines(inventory: Inventory) -> list[str]:
    """Tree topology of the first rail: its leaves with their nodes, then switches above them."""
    rail = inventory.rails[0]
    leaves: dict[str, list[str]] = defaultdict(list)
    for node in inventory.compute:
        leaf = _leaf_of(node, rail)
        if leaf:
            leaves[leaf].append(node.hostname)
    lines = [
        f"SwitchName={leaf} Nodes={compress_hostlist(hosts)}" for leaf, hosts in leaves.items()
    ]
    children: dict[str, list[str]] = defaultdict(list)
    switches: dict[str, Switch] = {sw.name: sw for sw in inventory.switches}
    for leaf in leaves:
        for uplink in switches[leaf].uplinks:
            children[uplink].append(leaf)
    lines += [
        f"SwitchName={sw} Switches={compress_hostlist(kids)}" for sw, kids in children.items()
    ]
    return lines


@per_inventory
def topology_conf(inventory: Inventory) -> str:
    return render(
        "topology.conf.j2",
        inv=inventory,
        source=inventory.source.name,
        rail=inventory.rails[0].name,
        switch_lines=switch_lines(inventory),
    )


def slurmdbd_conf(inventory: Inventory, password: str = PASSWORD_PLACEHOLDER) -> str:
    """slurmdbd.conf; the password is the caller's (the deploy reads it from the user's source)."""
    return render(
        "slurmdbd.conf.j2",
        inv=inventory,
        source=inventory.source.name,
        password=password,
        ports=DAEMON_PORTS,
        log_files=DAEMON_LOG_FILES,
        series=slurm_series(inventory),
    )


#: MariaDB's settings for slurmdbd, on the accounting host.
MARIADB_CONF_PATH = "/etc/mysql/mariadb.conf.d/90-trainbed-slurmdbd.cnf"


def mariadb_conf(inventory: Inventory) -> str:
    """MariaDB's InnoDB settings for slurmdbd (the distribution's defaults are below Slurm's):
    Slurm's recommendation for the inventory's series (`slurm_series`; `_check_database_variables`
    in accounting_storage_mysql.c logs "Database settings not recommended values" under half)."""
    return render(
        "mariadb-slurmdbd.cnf.j2",
        source=inventory.source.name,
        settings=slurm_series(inventory).innodb,
    )


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def slurmdbd_grant_sql(inventory: Inventory, password: str) -> str:
    """SQL that creates the accounting database and its user, idempotently (MariaDB ≥ 10.1)."""
    acct = inventory.slurm.accounting
    user = f"{_sql_string(acct.database_user)}@'localhost'"
    return (
        f"CREATE DATABASE IF NOT EXISTS `{acct.database_name}`;\n"
        f"CREATE USER IF NOT EXISTS {user};\n"
        f"ALTER USER {user} IDENTIFIED BY {_sql_string(password)};\n"
        f"GRANT ALL ON `{acct.database_name}`.* TO {user};\n"
    )
