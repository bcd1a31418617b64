"""infiniband: every HCA of the inventory up at the rate and link layer it says, on the locked
firmware (else one across compute nodes), a subnet manager answering on every rail, one OpenSM per
rail on its hosts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from trainbed.checks import expected, firmware
from trainbed.inventory.model import ComputeNode, Hca, Inventory, Node
from trainbed.parse.ibstat import CaInfo, parse_ibstat
from trainbed.remote import Remote
from trainbed.verdicts import check, hca_port, mismatch

pytestmark = pytest.mark.nodes("infiniband")


def _cas(remote: Remote) -> dict[str, CaInfo]:
    return {ca.name: ca for ca in parse_ibstat(remote.output("ibstat"))}


@pytest.mark.each("hca", expected.hcas)
def test_hca_port(remote: Remote, inventory: Inventory, hca: Hca) -> None:
    """Present, Active/LinkUp, at the inventory's rate and link layer, with its port GUID."""
    check(hca_port.problems(remote.hostname, expected.hca_port(inventory, hca), _cas(remote)))


def _firmware(node: Node, cas: dict[str, CaInfo]) -> dict[str, str]:
    """HCA → firmware version, for the node's HCAs that ibstat lists."""
    return {
        h.device: cas[h.device].firmware_version or "unknown" for h in node.hcas if h.device in cas
    }


@pytest.fixture(scope="session")
def hca_firmware(
    inventory: Inventory, connect: Callable[[str], Remote], unreachable: dict[str, str]
) -> dict[str, dict[str, str]]:
    """node → HCA → firmware, for the compute nodes that answer (the others report themselves)."""
    hosts = [n.hostname for n in inventory.compute if n.hostname not in unreachable]
    return firmware.observe(
        hosts, lambda host: _firmware(inventory.node(host), _cas(connect(host)))
    )


@pytest.mark.nodes("compute")
def test_hca_firmware(
    remote: Remote, inventory: Inventory, node: ComputeNode, hca_firmware: dict[str, dict[str, str]]
) -> None:
    """Every HCA runs the profile's locked firmware; without a lock, what most of the profile's
    compute nodes run. A split without such a majority fails on each of its nodes, naming every
    side and blaming none."""
    profile = node.profile
    peers = {h: d for h, d in hca_firmware.items() if inventory.compute_node(h).profile == profile}
    mine = _firmware(node, _cas(remote))
    lock, where = profile.firmware.hca, profile.lock_path("hca")
    check(firmware.node_problems(node.hostname, mine, peers, "HCA firmware", lock, where))


@pytest.mark.each("rail", expected.rails_of)
def test_subnet_manager(remote: Remote, rail: Hca) -> None:
    """A master subnet manager answers through the node's port on each rail."""
    result = remote.run("sminfo -C %s -P %s", rail.device, rail.port, cache=False)
    what = f"{remote.hostname} {rail.rail} ({rail.device}) subnet manager"
    answer = " ".join((result.stdout or result.stderr).split())[:200] or f"exit {result.rc}"
    assert result.rc == 0 and "SMINFO_MASTER" in result.stdout, mismatch(
        what, "a master answering", answer
    )
