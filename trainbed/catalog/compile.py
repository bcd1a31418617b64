"""`compile_catalog(inventory, hostname)`: every resource trainbed manages on one host, purely.

Files come from the renderer, packages from `render.packages`, roles from `inventory.roles`;
this module adds the users, directories, units, modules and triggers, each decided once here.
"""

from __future__ import annotations

from trainbed.catalog.model import (
    Catalog,
    Directory,
    File,
    Group,
    Link,
    Module,
    Package,
    Trigger,
    Unit,
    User,
)
from trainbed.health import (
    EPILOG_PATH,
    PROGRAM_PATH,
    PROLOG_PATH,
    SERVICE_PATH,
    TIMER_PATH,
    TIMER_UNIT,
)
from trainbed.health.bundle import NAME as BUNDLE
from trainbed.health.plan import HcaPort, HealthPlan
from trainbed.inventory.model import Inventory, Node
from trainbed.inventory.model import Package as LockedPackage
from trainbed.inventory.roles import (
    forbids_unattended_upgrades,
    is_compute,
    is_controller,
    is_primary_controller,
    is_slurmdbd_host,
    runs_fabric_manager,
)
from trainbed.render import render_host
from trainbed.render.containers import PLUGSTACK_PATH, PYXIS_CONF_PATH, enroot_directories
from trainbed.render.fabric import opensm_partitions_path, opensm_rails
from trainbed.render.files import PEERMEM_LOAD_PATH
from trainbed.render.packages import (
    containers_packages,
    health_packages,
    infiniband_packages,
    nvidia_packages,
    probe_packages,
    slurm_packages,
)
from trainbed.render.slurm import (
    DAEMON_LOG_FILES,
    DAEMON_PORTS,
    MARIADB_CONF_PATH,
    RESTART_SIGNATURE_PATH,
)
from trainbed.render.storage import unit_name
from trainbed.render.system import keyring_path

MUNGE_KEY = "/etc/munge/munge.key"
SLURMDBD_CONF = "/etc/slurm/slurmdbd.conf"
GRANT_SQL = "/var/lib/trainbed/slurmdbd-grant.sql"
SYSCTL_CONF = "/etc/sysctl.d/90-trainbed-rdma.conf"
CHRONY_CONF = "/etc/chrony/chrony.conf"
SLURM_CONF_DIR = "/etc/slurm"
GRES_CONF = f"{SLURM_CONF_DIR}/gres.conf"
OPENSM_TEMPLATE = "opensm@.service"
UNIT_DIR = "/etc/systemd/system"
NOLOGIN = "/usr/sbin/nologin"
#: `scontrol reconfigure` applies slurm.conf changes that need no restart.
RECONFIGURE = "scontrol reconfigure"


def _locked(packages: list[LockedPackage], role: str) -> list[Package]:
    return [Package(p.name, role, p.version, held=True) for p in packages]


def _files(inventory: Inventory, node: Node) -> list[File]:
    out = []
    for f in render_host(inventory, node.hostname).values():
        secret = f.path == SLURMDBD_CONF
        out.append(File(f.path, f.role, f.content, f.mode, f.user, f.group, secret=secret))
    out += [
        File(keyring_path(repo), "apt", source=str(repo.signed_by))
        for repo in inventory.software.repositories
        if node.kind in repo.on
    ]
    create = None
    if is_primary_controller(inventory, node):
        create = f"umask 077 && dd if=/dev/urandom of={MUNGE_KEY} bs=1024 count=1 status=none"
    out.append(File(MUNGE_KEY, "slurm", None, "0400", "munge", "munge", True, create=create))
    if is_slurmdbd_host(inventory, node):
        out.append(File(GRANT_SQL, "slurm", None, "0600", secret=True))
    return out


def _packages(inventory: Inventory, node: Node) -> list[Package]:
    tools = health_packages(inventory, node) + probe_packages(inventory, node)
    out = _locked(list(inventory.software.kernel) + tools, "apt")
    if forbids_unattended_upgrades(node):
        out.append(Package("unattended-upgrades", "apt", present=False))
    if inventory.cluster.time_sync == "chrony":
        out.append(Package("chrony", "base"))
    if is_compute(node):
        out += _locked(nvidia_packages(inventory, node), "nvidia")
    out += _locked(infiniband_packages(inventory, node), "infiniband")
    out += _locked(slurm_packages(inventory, node), "slurm")
    out += _locked(containers_packages(inventory, node), "containers")
    if _mounts(inventory, node):
        out.append(Package("nfs-common", "storage"))
    return out


def _users(inventory: Inventory) -> tuple[list[Group], list[User]]:
    slurm = inventory.slurm
    pairs = (
        ("munge", slurm.munge_uid, "/nonexistent"),
        ("slurm", slurm.slurm_uid, "/var/lib/slurm"),
    )
    return (
        [Group(name, uid, "base") for name, uid, _ in pairs],
        [User(name, uid, name, home, NOLOGIN, "base") for name, uid, home in pairs],
    )


def _directories(inventory: Inventory, node: Node) -> list[Directory]:
    out = []
    if is_compute(node) and containers_packages(inventory, node):
        out += [Directory(p, "containers", "1777") for p in enroot_directories(inventory, node)]
    out += [
        Directory("/var/log/slurm", "slurm", "0755", "slurm", "slurm"),
        Directory("/var/spool/slurmd", "slurm", "0755", "root", "root"),
    ]
    if is_slurmdbd_host(inventory, node):
        out.append(Directory("/var/lib/trainbed", "slurm", "0700"))
    if is_controller(inventory, node):
        out.append(
            Directory(inventory.slurm.state_save_location, "slurm", "0755", "slurm", "slurm")
        )
    return out


def _daemon(name: str, stage: str, timeout_s: int | None = None) -> Unit:
    return Unit(
        name,
        "slurm",
        port=DAEMON_PORTS[name],
        log_file=DAEMON_LOG_FILES[name],
        start_timeout_s=timeout_s,
        stage=stage,
    )


def _mounts(inventory: Inventory, node: Node) -> list:
    return [m for m in inventory.mounts if node.kind in m.on]


def _units(inventory: Inventory, node: Node) -> list[Unit]:
    out = []
    if inventory.cluster.time_sync == "chrony":
        out.append(Unit("chrony", "base"))
    if is_compute(node):
        if runs_fabric_manager(node):
            out.append(Unit("nvidia-fabricmanager", "nvidia"))
        out.append(Unit("nvidia-persistenced", "nvidia"))
        if inventory.software.nvidia.dcgm is not None:
            out.append(Unit("nvidia-dcgm", "nvidia"))
    rails = opensm_rails(inventory, node.hostname)
    if rails:
        # The distribution's single opensm.service binds the first port it finds.
        out.append(Unit("opensm", "infiniband", False, False, False, only_if_present=True))
        out += [
            Unit(f"opensm@{rail.name}", "infiniband", template=OPENSM_TEMPLATE) for rail, _ in rails
        ]
    out.append(Unit("munge", "slurm", stage="key"))
    if is_slurmdbd_host(inventory, node):
        # The first start creates the accounting tables: it answers on its port only after that.
        out += [Unit("mariadb", "slurm", stage="database"), _daemon("slurmdbd", "accounting", 120)]
    if is_controller(inventory, node):
        out.append(_daemon("slurmctld", "controller", 60))
    if is_compute(node):
        out.append(_daemon("slurmd", "worker"))
    if not is_compute(node):
        # With no interval the timer is switched off where an earlier deploy left it.
        wired = inventory.health.interval_s > 0
        out.append(Unit(TIMER_UNIT, "slurm", wired, wired, wired, only_if_present=not wired))
    for mount in _mounts(inventory, node):
        kind = "automount" if mount.automount else "mount"
        state = True if mount.mount_now else None
        out.append(Unit(unit_name(mount.mount_point, kind), "storage", state, state, False))
    return out


def _modules(inventory: Inventory, node: Node) -> list[Module]:
    if is_compute(node) and inventory.networks.infiniband.gpudirect_method == "peermem":
        return [Module("nvidia-peermem", PEERMEM_LOAD_PATH, "nvidia")]
    return []


def _triggers(inventory: Inventory, node: Node, files: list[File]) -> list[Trigger]:
    paths = {f.path for f in files}
    by_role = {
        role: tuple(f.path for f in files if f.role == role and not f.secret)
        for role in {f.role for f in files}
    }
    out = [
        Trigger("Apply sysctl settings", (SYSCTL_CONF,), "restart", "base", "systemd-sysctl"),
    ]
    if CHRONY_CONF in paths:
        out.append(Trigger("Restart chrony", (CHRONY_CONF,), "restart", "base", "chrony"))
    apt = tuple(p for p in by_role.get("apt", ()) if p.startswith("/etc/apt/sources.list.d/"))
    keys = tuple(f.path for f in files if f.source is not None)
    if keys + apt:
        out.append(
            Trigger("Refresh package lists (sources changed)", keys + apt, "apt-update", "apt")
        )
    for module in _modules(inventory, node):
        out.append(
            Trigger(
                f"Load {module.name}", (module.config,), "restart", "nvidia", "systemd-modules-load"
            )
        )
    rails = opensm_rails(inventory, node.hostname)
    if rails:
        template = f"{UNIT_DIR}/{OPENSM_TEMPLATE}"
        out.append(Trigger("Reload units", (template,), "daemon-reload", "infiniband"))
        out += [
            Trigger(
                f"Restart OpenSM {rail.name}",
                (
                    f"/etc/opensm/opensm-{rail.name}.conf",
                    opensm_partitions_path(rail.name),
                    template,
                ),
                "restart",
                "infiniband",
                f"opensm@{rail.name}",
            )
            for rail, _ in rails
        ]
    out.append(Trigger("Restart munge (new key)", (MUNGE_KEY,), "restart", "slurm", "munge"))
    if is_slurmdbd_host(inventory, node):
        out += [
            Trigger(
                "Restart MariaDB (InnoDB settings)",
                (MARIADB_CONF_PATH,),
                "restart",
                "slurm",
                "mariadb",
            ),
            Trigger(
                "Apply the database grant",
                (GRANT_SQL,),
                "command",
                "slurm",
                command=f"mariadb < {GRANT_SQL}",
            ),
            Trigger("Restart slurmdbd", (SLURMDBD_CONF,), "restart", "slurm", "slurmdbd"),
        ]
    if is_controller(inventory, node):
        out.append(
            Trigger("Restart slurmctld", (RESTART_SIGNATURE_PATH,), "restart", "slurm", "slurmctld")
        )
    if is_compute(node):
        out.append(
            Trigger(
                "Restart slurmd", (RESTART_SIGNATURE_PATH, GRES_CONF), "restart", "slurm", "slurmd"
            )
        )
    if is_primary_controller(inventory, node):
        # Slurm's own files (not the health program's, also of this role).
        config = tuple(
            p
            for p in by_role["slurm"]
            if p.startswith(f"{SLURM_CONF_DIR}/") and p != RESTART_SIGNATURE_PATH
        )
        out.append(
            Trigger(
                RECONFIGURE,
                config,
                "command",
                "slurm",
                command=RECONFIGURE,
                unless=(RESTART_SIGNATURE_PATH,),
            )
        )
    if is_compute(node) and containers_packages(inventory, node):
        out.append(
            Trigger(
                "Restart slurmd (SPANK plugins changed)",
                (PLUGSTACK_PATH, PYXIS_CONF_PATH),
                "restart",
                "containers",
                "slurmd",
            )
        )
    if TIMER_PATH in paths:
        out += [
            Trigger(
                "Reload units (health timer)", (SERVICE_PATH, TIMER_PATH), "daemon-reload", "slurm"
            ),
            Trigger(f"Restart {TIMER_UNIT}", (TIMER_PATH,), "restart", "slurm", TIMER_UNIT),
        ]
    storage = by_role.get("storage", ())
    if storage:
        out.append(Trigger("Reload units", storage, "daemon-reload", "storage"))
    return out


#: The roles whose running units the health program watches. On a compute node not the
#: subnet managers it may host: a dead SM is the fabric's problem, not a reason to drain it.
WATCHED_ROLES = {"compute": ("base", "nvidia", "slurm"), "control": ("base", "slurm", "infiniband")}


def _health(inventory: Inventory, node: Node, units: list[Unit]) -> HealthPlan:
    """The node-local health program's plan: GPUs and fabric manager on compute nodes; units,
    HCA ports, mounts and the clock on every node."""
    ib = inventory.networks.infiniband
    health = inventory.health
    thresholds = health.thresholds
    roles = WATCHED_ROLES["compute" if is_compute(node) else "control"]
    watched = [u.name for u in units if u.running and u.role in roles and u.name != TIMER_UNIT]
    return HealthPlan(
        gpus=node.profile.gpus.count if is_compute(node) else 0,
        nvlink=is_compute(node) and node.profile.gpus.nvswitch,
        hcas=tuple(HcaPort(h.device, h.port, ib.link_rate_gbps, ib.link_layer) for h in node.hcas),
        units=tuple(watched),
        # Mounted now (an automount: its autofs point); a mount_now: false unit is installed only.
        mounts=tuple(m.mount_point for m in _mounts(inventory, node) if m.mount_now),
        time_sync=inventory.cluster.time_sync == "chrony",
        clock_offset_s=thresholds.clock_offset_s,
        xid_window_hours=thresholds.xid_window_hours,
        critical_xids=tuple(thresholds.critical_xids),
        command_timeout_s=health.command_timeout_s,
        prolog_dcgm_timeout_s=health.prolog_dcgm_timeout_s,
        epilog_dcgm_timeout_s=thresholds.dcgm_timeout_s["standard"],
        auto_resume=health.auto_resume,
        could_not_run_drain_after=health.could_not_run_drain_after,
        interval_s=health.interval_s,
    )


def _health_timer(interval_s: int) -> list[File]:
    """A control-plane node's passive level every `interval_s` (judged and recorded only)."""
    service = (
        "# Generated by trainbed.\n[Unit]\nDescription=trainbed node health (passive level)\n\n"
        f"[Service]\nType=oneshot\nExecStart={PROGRAM_PATH} --level passive --no-slurm\n"
        "TimeoutStartSec=60\n"
    )
    timer = (
        "# Generated by trainbed.\n[Unit]\nDescription=trainbed node health every "
        f"{interval_s} s\n\n[Timer]\nOnBootSec={interval_s}\nOnUnitActiveSec={interval_s}\n"
        "AccuracySec=1\n\n[Install]\nWantedBy=timers.target\n"
    )
    return [File(SERVICE_PATH, "slurm", service, "0644"), File(TIMER_PATH, "slurm", timer, "0644")]


def _health_files(inventory: Inventory, node: Node) -> list[File]:
    """The program (a zipapp the deploy builds from this package: no content here); on compute
    nodes the Prolog/Epilog wrappers slurm.conf names (Slurm passes them no arguments), on the
    others the timer that runs it (Slurm runs it on compute nodes)."""
    out = [File(PROGRAM_PATH, "slurm", None, "0755", build=BUNDLE)]
    if not is_compute(node):
        interval = inventory.health.interval_s
        return out + (_health_timer(interval) if interval else [])
    for path, level, wanted in (
        (PROLOG_PATH, "prolog", inventory.health.prolog),
        (EPILOG_PATH, "epilog", inventory.health.epilog),
    ):
        if wanted:
            script = f"#!/bin/sh\n# Generated by trainbed.\nexec {PROGRAM_PATH} --level {level}\n"
            out.append(File(path, "slurm", script, "0755"))
    return out


def compile_catalog(inventory: Inventory, hostname: str) -> Catalog:
    """The catalog of `hostname`: what the deploy applies, the checks verify, the node reads."""
    node = inventory.node(hostname)
    files = _files(inventory, node) + _health_files(inventory, node)
    units = _units(inventory, node)
    groups, users = _users(inventory)
    return Catalog(
        hostname=hostname,
        kind=node.kind,
        roles=tuple(node.roles),
        files=tuple(files),
        links=(
            Link("/etc/localtime", f"/usr/share/zoneinfo/{inventory.cluster.timezone}", "base"),
        ),
        packages=tuple(_packages(inventory, node)),
        groups=tuple(groups),
        users=tuple(users),
        directories=tuple(_directories(inventory, node)),
        units=tuple(units),
        modules=tuple(_modules(inventory, node)),
        triggers=tuple(_triggers(inventory, node, files)),
        health=_health(inventory, node, units),
    )


def compile_cluster(inventory: Inventory) -> dict[str, Catalog]:
    """hostname → catalog, for every node trainbed logs in to."""
    return {n.hostname: compile_catalog(inventory, n.hostname) for n in inventory.nodes}
