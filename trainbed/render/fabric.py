"""InfiniBand fabric configuration: one OpenSM per rail on its hosts, and NCCL's environment."""

from __future__ import annotations

from trainbed.inventory.model import Inventory, Node, Rail
from trainbed.render.templates import render


def opensm_rails(inventory: Inventory, hostname: str) -> list[tuple[Rail, int]]:
    """The rails whose subnet manager runs on `hostname`, with this host's priority on each."""
    return [
        (rail, sm.priority)
        for rail in inventory.rails
        for sm in rail.subnet_managers
        if sm.host == hostname
    ]


def opensm_conf(inventory: Inventory, node: Node, rail: Rail, priority: int) -> str:
    port = next(hca for hca in node.hcas if hca.rail == rail.name)
    top = max(sm.priority for sm in rail.subnet_managers)
    return render(
        "opensm.conf.j2",
        source=inventory.source.name,
        rail=rail,
        host=node.hostname,
        guid=port.port_guid,
        priority=priority,
        primary=priority == top,
        partitions=opensm_partitions_path(rail.name),
    )


def opensm_partitions_path(rail: str) -> str:
    return f"/etc/opensm/partitions-{rail}.conf"


def opensm_partitions(inventory: Inventory, rail: Rail) -> str:
    """The partitions file each rail's opensm.conf names: the default partition, every port."""
    return render("opensm-partitions.conf.j2", source=inventory.source.name, rail=rail)


def opensm_unit() -> str:
    return render("opensm@.service.j2")


def nccl_environment(inventory: Inventory, node: Node) -> dict[str, str]:
    """NCCL variables for jobs on `node`: its HCAs in rail order, GPUDirect RDMA as the fabric allows.

    `NCCL_IB_HCA` starts with `=` so NCCL matches the names exactly (mlx5_1 must not match mlx5_10).
    """
    ib = inventory.networks.infiniband
    order = {rail.name: i for i, rail in enumerate(ib.rails)}
    hcas = sorted(node.hcas, key=lambda hca: order.get(hca.rail, len(order)))
    env = {
        "NCCL_IB_HCA": "=" + ",".join(f"{hca.device}:{hca.port}" for hca in hcas),
        "NCCL_IB_DISABLE": "0",
        # PHB lets the NIC read GPU memory through the host bridge; LOC turns GPUDirect RDMA off.
        "NCCL_NET_GDR_LEVEL": "PHB" if ib.gpudirect_rdma else "LOC",
    }
    if ib.gpudirect_method is not None:
        # NCCL takes DMA-BUF when the kernel and driver offer it: pinned so the method is the
        # inventory's, not whatever the node happens to support.
        env["NCCL_DMABUF_ENABLE"] = "1" if ib.gpudirect_method == "dmabuf" else "0"
    if ib.link_layer == "Ethernet":
        env["NCCL_IB_GID_INDEX"] = "3"  # RoCE v2 on the default GID table layout
    return env


def nccl_conf(inventory: Inventory, node: Node) -> str:
    return render(
        "nccl.conf.j2",
        source=inventory.source.name,
        host=node.hostname,
        env=nccl_environment(inventory, node),
    )
