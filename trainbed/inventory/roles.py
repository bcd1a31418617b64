"""Who runs what: each decision about a host's role is one predicate on the inventory model.

The renderer, the catalog, the deploy and the checks ask these; none restates them.
"""

from __future__ import annotations

from typing import TypeGuard

from trainbed.inventory.model import ComputeNode, Inventory, Node


def is_compute(node: Node) -> TypeGuard[ComputeNode]:
    """GPU node: driver stack, slurmd, NCCL, enroot."""
    return isinstance(node, ComputeNode)


def runs_fabric_manager(node: Node) -> bool:
    """A compute node whose baseboard has NVSwitch: only there has the fabric manager work to do
    (without NVSwitch it exits at start, nothing to manage)."""
    return isinstance(node, ComputeNode) and node.profile.gpus.nvswitch


def is_primary_controller(inventory: Inventory, node: Node) -> bool:
    """The first slurmctld host: it makes the munge key and runs `scontrol reconfigure`."""
    return node.hostname == inventory.slurmctld_hosts[0].hostname


def is_controller(inventory: Inventory, node: Node) -> bool:
    """A slurmctld host, primary or backup."""
    return any(c.hostname == node.hostname for c in inventory.slurmctld_hosts)


def is_slurmdbd_host(inventory: Inventory, node: Node) -> bool:
    """The accounting host (MariaDB and slurmdbd), when accounting is enabled."""
    dbd = inventory.slurmdbd_host
    return dbd is not None and dbd.hostname == node.hostname


def is_subnet_manager_host(inventory: Inventory, node: Node) -> bool:
    """A host that runs OpenSM for at least one rail."""
    return any(sm.host == node.hostname for rail in inventory.rails for sm in rail.subnet_managers)


def is_srun_host(inventory: Inventory, node: Node) -> bool:
    """Where users run srun/sbatch: login nodes and the probes' submit host."""
    return "login" in node.roles or node.hostname == inventory.submit_host.hostname


def forbids_unattended_upgrades(node: Node) -> bool:
    """Compute nodes keep exactly the locked versions: no unattended upgrades there."""
    return isinstance(node, ComputeNode)
