"""What each node must look like after a deploy, derived from the inventory model and the renderer.

The acceptance checks (`checks/`) assert these values on the live nodes; nothing here logs in.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass

from trainbed.inventory.model import ComputeNode, Hca, Inventory, Mount, Node, Package
from trainbed.render import render_host
from trainbed.render.fabric import opensm_rails
from trainbed.render.packages import locked_packages
from trainbed.render.slurm import uses_cgroup
from trainbed.render.storage import mount_options, unit_name

#: Groups a check module can target besides `Inventory.groups()`.
ALL = "all"


@dataclass(frozen=True, slots=True)
class Service:
    """A systemd unit that must be enabled and running; `role` is the check module it belongs to."""

    unit: str
    role: str


def node_role(node: Node) -> str:
    """A short description of a node for reports: `compute`, or its control-plane roles."""
    return "compute" if isinstance(node, ComputeNode) else ",".join(node.roles) or node.kind


def hosts_of(inventory: Inventory, group: str | Callable[[Inventory], list[str]]) -> list[str]:
    """Hostnames of a group (`all`, a name in `Inventory.groups()`, or a function of the inventory)."""
    if callable(group):
        return group(inventory)
    if group == ALL:
        return [n.hostname for n in inventory.nodes]
    return list(inventory.groups()[group])


def munge_peers(inventory: Inventory) -> list[str]:
    """Slurm nodes other than the primary controller, whose munge key is the reference."""
    primary = inventory.slurmctld_hosts[0].hostname
    return [n.hostname for n in inventory.slurm_nodes if n.hostname != primary]


def select_hosts(inventory: Inventory, limit: str | None) -> list[str]:
    """Hosts a `--limit` selects: comma-separated group names or hostname globs; None selects all.

    Raises ValueError when a pattern matches nothing, so a typo never yields an empty, green run.
    """
    every = [n.hostname for n in inventory.nodes]
    if not limit:
        return every
    groups = inventory.groups()
    chosen: set[str] = set()
    for pattern in (p.strip() for p in limit.split(",")):
        if not pattern:
            continue
        matched = set(groups.get(pattern, [])) or set(fnmatch.filter(every, pattern))
        if not matched:
            raise ValueError(f"--limit {pattern!r} matches no host or group of the inventory")
        chosen |= matched
    return [h for h in every if h in chosen]


def services(inventory: Inventory, node: Node) -> list[Service]:
    """Units trainbed enables on `node`, each tagged with the role that checks it.

    chrony (with `time_sync: chrony`) is checked with the clock, by test_time_synchronised.
    """
    units: list[Service] = []
    if isinstance(node, ComputeNode):
        if node.profile.gpus.nvswitch:
            units.append(Service("nvidia-fabricmanager", "nvidia"))
        units.append(Service("nvidia-persistenced", "nvidia"))
        if inventory.software.nvidia.dcgm is not None:
            units.append(Service("nvidia-dcgm", "nvidia"))
    units += [
        Service(f"opensm@{rail.name}", "infiniband")
        for rail, _ in opensm_rails(inventory, node.hostname)
    ]
    units.append(Service("munge", "slurm"))
    if isinstance(node, ComputeNode):
        units.append(Service("slurmd", "slurm"))
    if node in inventory.slurmctld_hosts:
        units.append(Service("slurmctld", "slurm"))
    dbd = inventory.slurmdbd_host
    if dbd is not None and dbd.hostname == node.hostname:
        units += [Service("mariadb", "slurm"), Service("slurmdbd", "slurm")]
    return units


def role_services(inventory: Inventory, node: Node, role: str) -> dict[str, str]:
    """unit → unit, for the services of one role on `node` (the form `each` parametrizes over)."""
    return {s.unit: s.unit for s in services(inventory, node) if s.role == role}


def packages(inventory: Inventory, node: Node) -> dict[str, Package]:
    """name → locked package on `node` (exact version, held)."""
    return {p.name: p for p in locked_packages(inventory, node)}


def hcas(inventory: Inventory, node: Node) -> dict[str, Hca]:
    """device → HCA of the inventory on `node`."""
    return {hca.device: hca for hca in node.hcas}


def rails_of(inventory: Inventory, node: Node) -> dict[str, Hca]:
    """rail → the node's HCA on it (a subnet manager must answer through each)."""
    return {hca.rail: hca for hca in node.hcas}


def mounts(inventory: Inventory, node: Node) -> dict[str, Mount]:
    """mount point → mount for the node's kind."""
    return {m.mount_point: m for m in inventory.mounts if node.kind in m.on}


def mount_unit_path(mount: Mount) -> str:
    unit = unit_name(mount.mount_point)
    return f"/etc/systemd/system/{unit}"


def expected_mount_options(mount: Mount) -> list[str]:
    """The options the mount unit carries, `vers=` first, in the inventory's order."""
    return mount_options(mount).split(",")


#: Mount options that mount(8) and systemd consume; the kernel never reports them.
USERSPACE_MOUNT_OPTIONS = frozenset({"_netdev", "nofail", "auto", "noauto", "defaults", "user"})


def kernel_mount_options(mount: Mount) -> list[str]:
    """The inventory's options a mounted filesystem must show in `findmnt` (userspace ones dropped)."""
    return [
        opt
        for opt in expected_mount_options(mount)
        if opt not in USERSPACE_MOUNT_OPTIONS and not opt.startswith("x-")
    ]


def slurm_plugins(inventory: Inventory) -> dict[str, str]:
    """Plugin file glob in Slurm's PluginDir → why the inventory needs it.

    A plugin is needed when the configuration uses it (autodetect nvml, a cgroup plugin, MPI
    default pmix) or when the inventory states the site's build has it (`slurm.plugins`).
    """
    slurm = inventory.slurm
    declared = slurm.plugins
    needed: dict[str, str] = {}
    if slurm.gres_autodetect == "nvml":
        needed["gpu_nvml.so"] = "gres.autodetect is nvml"
    elif declared.get("nvml"):
        needed["gpu_nvml.so"] = "slurm.plugins.nvml is true"
    if uses_cgroup(inventory):
        needed["cgroup_v2.so"] = f"{slurm.proctrack_type} / {','.join(slurm.task_plugins)}"
    elif declared.get("cgroup_v2"):
        needed["cgroup_v2.so"] = "slurm.plugins.cgroup_v2 is true"
    if slurm.mpi_default.startswith("pmix"):
        needed["mpi_pmix*.so"] = f"MpiDefault={slurm.mpi_default}"
    elif declared.get("pmix"):
        needed["mpi_pmix*.so"] = "slurm.plugins.pmix is true"
    return needed


def managed_files(inventory: Inventory, node: Node) -> dict[str, str]:
    """path → rendered content of every file the deploy pushes to `node`, secrets left out.

    A file is secret when its content depends on the accounting password: rendering twice with
    two different passwords tells which, without knowing the real one.
    """
    first = render_host(inventory, node.hostname, dbd_password="a")
    second = render_host(inventory, node.hostname, dbd_password="b")
    return {path: f.content for path, f in first.items() if f.content == second[path].content}


def limits(text: str) -> dict[tuple[str, str, str], str]:
    """`(domain, type, item) → value` from a limits.conf(5) text, comments and blanks skipped."""
    entries: dict[tuple[str, str, str], str] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) == 4:
            domain, kind, item, value = fields
            entries[(domain, kind, item)] = value
    return entries
