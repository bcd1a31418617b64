"""Which locked packages each node gets, by its kind and roles."""

from __future__ import annotations

from trainbed.inventory.model import ComputeNode, Inventory, Node, Package
from trainbed.inventory.roles import (
    is_controller,
    is_slurmdbd_host,
    is_srun_host,
    is_subnet_manager_host,
    runs_fabric_manager,
)


def _dedupe(packages: list[Package]) -> list[Package]:
    seen: dict[str, Package] = {}
    for package in packages:
        seen.setdefault(package.name, package)
    return list(seen.values())


def nvidia_packages(inventory: Inventory, node: Node) -> list[Package]:
    """The driver stack; the fabric manager (of the driver's version) only with NVSwitch."""
    nv = inventory.software.nvidia
    fabricmanager = [nv.fabricmanager] if runs_fabric_manager(node) else []
    return [nv.driver, *fabricmanager, *([nv.dcgm] if nv.dcgm else []), *nv.extra]


def infiniband_packages(inventory: Inventory, node: Node) -> list[Package]:
    """OFED and diagnostics wherever there are HCAs; perftest and NCCL on compute; OpenSM on SM hosts."""
    ib = inventory.software.infiniband
    packages = [*ib.ofed, *ib.diagnostics] if node.hcas else []
    if isinstance(node, ComputeNode):
        packages += [ib.perftest, *ib.nccl]
    if is_subnet_manager_host(inventory, node):
        packages.append(ib.subnet_manager)
    return _dedupe(packages)


def slurm_packages(inventory: Inventory, node: Node) -> list[Package]:
    slurm = inventory.software.slurm
    packages = list(slurm.common)
    if isinstance(node, ComputeNode):
        packages += slurm.compute
    if is_controller(inventory, node):
        packages += slurm.controller
    if is_slurmdbd_host(inventory, node):
        packages += slurm.database
    return _dedupe(packages)


def containers_packages(inventory: Inventory, node: Node) -> list[Package]:
    """enroot and pyxis on compute nodes; where srun parses `--container-*` options, pyxis and
    the enroot it depends on (nvslurm-plugin-pyxis: `Depends: enroot`), locked too, without
    enroot+caps (its capabilities let users import images, which login nodes do not need)."""
    containers = inventory.containers
    if containers is None:
        return []
    if isinstance(node, ComputeNode):
        return _dedupe([*containers.enroot_packages, containers.pyxis])
    if not is_srun_host(inventory, node):
        return []
    base = [p for p in containers.enroot_packages if not p.name.endswith("+caps")]
    return _dedupe([*base, containers.pyxis])


def health_packages(inventory: Inventory, node: Node) -> list[Package]:
    """The hardware health checks' tools (`software.health_tools`) on compute nodes."""
    return list(inventory.software.health_tools) if isinstance(node, ComputeNode) else []


def probe_packages(inventory: Inventory, node: Node) -> list[Package]:
    """The probe suites' own tools (`software.probe_tools`: fio) on compute nodes."""
    return list(inventory.software.probe_tools) if isinstance(node, ComputeNode) else []


def locked_packages(inventory: Inventory, node: Node) -> list[Package]:
    """Every package installed at an exact version and held on `node`."""
    packages = list(inventory.software.kernel) + health_packages(inventory, node)
    packages += probe_packages(inventory, node)
    if isinstance(node, ComputeNode):
        packages += nvidia_packages(inventory, node)
    packages += infiniband_packages(inventory, node)
    packages += slurm_packages(inventory, node)
    packages += containers_packages(inventory, node)
    return _dedupe(packages)
