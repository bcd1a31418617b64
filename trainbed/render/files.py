"""Every file trainbed manages on a host, rendered from the inventory."""

from __future__ import annotations

from dataclasses import dataclass

from trainbed.inventory.model import ComputeNode, Inventory
from trainbed.render import fabric, slurm, storage, system
from trainbed.render.packages import locked_packages


@dataclass(frozen=True, slots=True)
class RenderedFile:
    """A file's content and ownership on the node; `role` names the deploy role that pushes it."""

    path: str
    content: str
    role: str
    mode: str = "0644"
    user: str = "root"
    group: str = "root"


def _base_files(inventory: Inventory, node_kind: str, packages: list) -> list[RenderedFile]:
    files = [
        RenderedFile("/etc/hosts", system.hosts(inventory), "base"),
        RenderedFile("/etc/chrony/chrony.conf", system.chrony_conf(inventory), "base"),
        RenderedFile("/etc/sysctl.d/90-trainbed-rdma.conf", system.sysctl_rdma(), "base"),
        RenderedFile("/etc/security/limits.d/90-trainbed-rdma.conf", system.limits_rdma(), "base"),
        RenderedFile(
            "/etc/apt/preferences.d/trainbed-pins",
            system.apt_preferences(inventory, packages),
            "base",
        ),
    ]
    files += [
        RenderedFile(
            f"/etc/apt/sources.list.d/trainbed-{repo.name}.sources",
            system.apt_source(inventory, repo),
            "base",
        )
        for repo in inventory.software.repositories
        if node_kind in repo.on
    ]
    return files


def _slurm_files(
    inventory: Inventory, hostname: str, dbd_password: str | None
) -> list[RenderedFile]:
    files = [
        RenderedFile("/etc/slurm/slurm.conf", slurm.slurm_conf(inventory), "slurm"),
        RenderedFile("/etc/slurm/gres.conf", slurm.gres_conf(inventory), "slurm"),
        RenderedFile("/etc/slurm/topology.conf", slurm.topology_conf(inventory), "slurm"),
    ]
    if slurm.uses_cgroup(inventory):
        files.append(RenderedFile("/etc/slurm/cgroup.conf", slurm.cgroup_conf(inventory), "slurm"))
    dbd = inventory.slurmdbd_host
    if dbd is not None and dbd.hostname == hostname:
        content = (
            slurm.slurmdbd_conf(inventory, dbd_password)
            if dbd_password is not None
            else slurm.slurmdbd_conf(inventory)
        )
        files.append(
            RenderedFile("/etc/slurm/slurmdbd.conf", content, "slurm", "0600", "slurm", "slurm")
        )
    return files


def render_host(
    inventory: Inventory, hostname: str, dbd_password: str | None = None
) -> dict[str, RenderedFile]:
    """Path on the node → file, for every file trainbed manages on `hostname`.

    `dbd_password` goes into slurmdbd.conf on the accounting host; without it a placeholder does.
    """
    node = inventory.node(hostname)
    files = _base_files(inventory, node.kind, locked_packages(inventory, node))
    files += _slurm_files(inventory, hostname, dbd_password)
    sm_rails = fabric.opensm_rails(inventory, hostname)
    if sm_rails:
        files.append(
            RenderedFile("/etc/systemd/system/opensm@.service", fabric.opensm_unit(), "infiniband")
        )
        files += [
            RenderedFile(
                f"/etc/opensm/opensm-{rail.name}.conf",
                fabric.opensm_conf(inventory, node, rail, priority),
                "infiniband",
            )
            for rail, priority in sm_rails
        ]
    if isinstance(node, ComputeNode):
        files.append(
            RenderedFile("/etc/nccl.conf", fabric.nccl_conf(inventory, node), "infiniband")
        )
    for mount in inventory.mounts:
        if node.kind not in mount.on:
            continue
        unit_dir = "/etc/systemd/system"
        files.append(
            RenderedFile(
                f"{unit_dir}/{storage.unit_name(mount.mount_point)}",
                storage.mount_unit(inventory, mount),
                "storage",
            )
        )
        if mount.automount:
            files.append(
                RenderedFile(
                    f"{unit_dir}/{storage.unit_name(mount.mount_point, 'automount')}",
                    storage.automount_unit(mount),
                    "storage",
                )
            )
    return {f.path: f for f in files}


def render_cluster(inventory: Inventory) -> dict[str, dict[str, RenderedFile]]:
    """hostname → its files, for every node trainbed logs in to."""
    return {node.hostname: render_host(inventory, node.hostname) for node in inventory.nodes}
