"""What each node must look like after a deploy: its catalog, in the forms the checks take.

The acceptance checks (`checks/`) assert these values on the live nodes; nothing here logs in or
decides what a host runs (`trainbed.catalog` does). Host selection and mount-option helpers stay.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from trainbed.catalog import CATALOG_PATH, Catalog, compile_catalog
from trainbed.catalog.compile import UNIT_DIR
from trainbed.catalog.model import Directory, File, Group, Module, Package, Unit, User
from trainbed.inventory.model import ComputeNode, Hca, Inventory, Mount, Node
from trainbed.render.slurm import uses_cgroup
from trainbed.render.storage import mount_options, unit_name
from trainbed.verdicts import hca_port as hca_port_verdict

#: Groups a check module can target besides `Inventory.groups()`.
ALL = "all"


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


#: (id of the inventory, hostname) → (the inventory, kept alive so the id stays its, the catalog).
_CATALOGS: dict[tuple[int, str], tuple[Inventory, Catalog]] = {}


def catalog(inventory: Inventory, hostname: str) -> Catalog:
    """The host's compiled catalog (once per inventory object): what the checks expect of it."""
    key = (id(inventory), hostname)
    if key not in _CATALOGS:
        _CATALOGS[key] = (inventory, compile_catalog(inventory, hostname))
    return _CATALOGS[key][1]


def units(inventory: Inventory, node: Node) -> dict[str, Unit]:
    """name → unit the deploy keeps enabled and running on `node`."""
    return {u.name: u for u in catalog(inventory, node.hostname).units if u.running and u.enabled}


def packages(inventory: Inventory, node: Node) -> dict[str, Package]:
    """name → package locked on `node` (exact version, held)."""
    return {p.name: p for p in catalog(inventory, node.hostname).packages if p.held}


def users(inventory: Inventory, node: Node) -> dict[str, User]:
    return {u.name: u for u in catalog(inventory, node.hostname).users}


def groups(inventory: Inventory, node: Node) -> dict[str, Group]:
    return {g.name: g for g in catalog(inventory, node.hostname).groups}


def directories(inventory: Inventory, node: Node) -> dict[str, Directory]:
    return {d.path: d for d in catalog(inventory, node.hostname).directories}


def modules(inventory: Inventory, node: Node) -> dict[str, Module]:
    return {m.name: m for m in catalog(inventory, node.hostname).modules}


#: (id of the inventory, hostname) → (the inventory, the host's files): the catalog's JSON is
#: serialised once per host and run, not once per check that asks.
_FILES: dict[tuple[int, str], tuple[Inventory, dict[str, File]]] = {}


def files(inventory: Inventory, node: Node) -> dict[str, File]:
    """path → every file the deploy manages on `node`, secrets and the catalog's JSON included
    (the same dict on every call: do not change it)."""
    key = (id(inventory), node.hostname)
    if key not in _FILES:
        cat = catalog(inventory, node.hostname)
        own = File(CATALOG_PATH, "base", cat.to_json())
        _FILES[key] = (inventory, {f.path: f for f in (*cat.files, own)})
    return _FILES[key][1]


def hcas(inventory: Inventory, node: Node) -> dict[str, Hca]:
    """device → HCA of the inventory on `node`."""
    return {hca.device: hca for hca in node.hcas}


def hca_port(inventory: Inventory, hca: Hca) -> hca_port_verdict.Expected:
    """What the HCA's port must show: the inventory's line rate, link layer and port GUID."""
    ib = inventory.networks.infiniband
    return hca_port_verdict.Expected(
        hca.device, hca.port, ib.link_rate_gbps, ib.link_layer, hca.port_guid
    )


def rails_of(inventory: Inventory, node: Node) -> dict[str, Hca]:
    """rail → the node's HCA on it (a subnet manager must answer through each)."""
    return {hca.rail: hca for hca in node.hcas}


def mounts(inventory: Inventory, node: Node) -> dict[str, Mount]:
    """mount point → mount for the node's kind."""
    return {m.mount_point: m for m in inventory.mounts if node.kind in m.on}


def mount_unit_path(mount: Mount) -> str:
    return f"{UNIT_DIR}/{unit_name(mount.mount_point)}"


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
    """path → content of every file the deploy pushes to `node` whose content the inventory gives
    (no secret: the catalog gives only their ownership)."""
    return {
        path: f.content
        for path, f in files(inventory, node).items()
        if f.content is not None and not f.secret
    }


def limits(text: str) -> dict[tuple[str, str, str], str]:
    """`(domain, type, item) → value` from a limits.conf(5) text, comments and blanks skipped."""
    entries: dict[tuple[str, str, str], str] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) == 4:
            domain, kind, item, value = fields
            entries[(domain, kind, item)] = value
    return entries


#: Exit 0 when the PMIx library Slurm's PMIx plugin (in PluginDir, the `%s`) loads is there: the
#: plugin dlopens `libpmix.so` from the directory its build names (Debian 12: .../pmix2/lib,
#: shipped only by libpmix-dev), else from the loader's path. The plugin file alone loads nothing
#: ("can not load PMIx library").
PMIX_LIBRARY_COMMAND = (
    "d=$(grep -a -h -o '/[[:alnum:]_./+-]*/lib' %s/mpi_pmix*.so | grep -m1 pmix); "
    'if [ -n "$d" ]; then test -e "$d/libpmix.so"; '
    "else ldconfig -p | grep -q 'libpmix[.]so '; fi"
)
