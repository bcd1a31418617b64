"""pcie (compute nodes): every GPU and rail HCA on a full-speed, full-width link, GPUDirect's
peer-to-peer path between each GPU and its rail HCA free of ACS redirects, and that HCA at PIX
or PXB from its GPU."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from trainbed.checks import health, reads
from trainbed.inventory.model import ComputeNode, Inventory
from trainbed.remote import Remote

pytestmark = pytest.mark.nodes("compute")


@reads.register("compute")
def _reads(inventory: Inventory, node: ComputeNode) -> list[str]:
    """lspci and (where an HCA names its nearest GPU) the GPU topology."""
    topology = [health.TOPOLOGY_COMMAND] if any(h.nearest_gpu for h in node.hcas) else []
    return [health.LSPCI_COMMAND, *topology]


def test_pcie_links(
    remote: Remote, node: ComputeNode, warn: Callable[[Iterable[str]], None]
) -> None:
    """LnkSta against LnkCap and the profile's `pcie` (Gen5 x16 on an XE9680): a downgraded
    link is named by device and bus ID."""
    health.outcome(health.link_findings(remote, node), warn)


def test_pcie_acs(remote: Remote, node: ComputeNode, warn: Callable[[Iterable[str]], None]) -> None:
    """ACS redirects off on the bridges between each GPU and its rail HCA (`nearest_gpu`)."""
    health.outcome(health.acs_findings(remote, node), warn)


def test_gpu_hca_topology(
    remote: Remote, node: ComputeNode, warn: Callable[[Iterable[str]], None]
) -> None:
    """Each rail HCA at PIX or PXB from its `nearest_gpu` in `nvidia-smi topo -m`."""
    if not any(h.nearest_gpu is not None for h in node.hcas):
        pytest.skip(f"{node.hostname}: no HCA names its nearest_gpu")
    health.outcome(health.topology_findings(remote, node), warn)
