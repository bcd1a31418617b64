"""infiniband: every HCA of the inventory up at the rate and link layer it says, one firmware across
compute nodes, a subnet manager answering on every rail, one OpenSM per rail on its hosts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from trainbed.checks import expected
from trainbed.checks.remote import Remote, Unreachable
from trainbed.checks.verdict import check, mismatch, service_problem, service_state
from trainbed.inventory.model import Hca, Inventory, Node
from trainbed.parse.ibstat import CaInfo, parse_ibstat
from trainbed.parse.ibv_devinfo import normalize_guid

pytestmark = pytest.mark.nodes("infiniband")


def _cas(remote: Remote) -> dict[str, CaInfo]:
    return {ca.name: ca for ca in parse_ibstat(remote.output("ibstat"))}


@pytest.mark.each("hca", expected.hcas)
def test_hca_port(remote: Remote, inventory: Inventory, hca: Hca) -> None:
    """Present, Active/LinkUp, at the inventory's rate and link layer, with its port GUID."""
    ib = inventory.networks.infiniband
    ca = _cas(remote).get(hca.device)
    what = f"{remote.hostname} {hca.device}"
    assert ca is not None, mismatch(what, "present", "absent from ibstat")
    port = next((p for p in ca.ports if p.number == hca.port), None)
    assert port is not None, mismatch(f"{what} port {hca.port}", "present", "absent")
    state = f"{port.state}/{port.physical_state}"
    guid = normalize_guid(port.port_guid) if port.port_guid else None
    check(
        [
            mismatch(f"{what} port {hca.port} state", "Active/LinkUp", state)
            if state != "Active/LinkUp"
            else None,
            mismatch(f"{what} rate", f"{ib.link_rate_gbps} Gb/s", port.rate)
            if port.rate != ib.link_rate_gbps
            else None,
            mismatch(f"{what} link layer", ib.link_layer, port.link_layer)
            if port.link_layer != ib.link_layer
            else None,
            mismatch(f"{what} port GUID", hca.port_guid, guid)
            if hca.port_guid and guid != normalize_guid(hca.port_guid)
            else None,
        ]
    )


@pytest.fixture(scope="session")
def firmware_reference(
    inventory: Inventory, connect: Callable[[str], Remote]
) -> tuple[str | None, str]:
    """The firmware most compute-node HCAs run (ties: the first node's), and how many nodes have it."""
    per_node: dict[str, set[str]] = {}
    for node in inventory.compute:
        try:
            cas = _cas(connect(node.hostname))
        except (Unreachable, AssertionError):
            continue  # its own checks report it
        per_node[node.hostname] = {
            cas[h.device].firmware_version or "unknown" for h in node.hcas if h.device in cas
        }
    counts = Counter(fw for versions in per_node.values() for fw in versions)
    if not counts:
        return None, "no compute node answered"
    top = max(counts.values())
    first = next(
        fw for versions in per_node.values() for fw in sorted(versions) if counts[fw] == top
    )
    holders = sum(1 for versions in per_node.values() if first in versions)
    return first, f"as on {holders} of {len(per_node)} compute nodes"


@pytest.mark.nodes("compute")
def test_hca_firmware(
    remote: Remote, node: Node, firmware_reference: tuple[str | None, str]
) -> None:
    """HCA firmware is the same on every compute node (and every HCA of this one)."""
    want, how = firmware_reference
    cas = _cas(remote)
    check(
        mismatch(f"{remote.hostname} {h.device} firmware", f"{want} ({how})", fw)
        for h in node.hcas
        if h.device in cas and (fw := cas[h.device].firmware_version) != want
    )


@pytest.mark.each("rail", expected.rails_of)
def test_subnet_manager(remote: Remote, rail: Hca) -> None:
    """A master subnet manager answers through the node's port on each rail."""
    result = remote.run(f"sminfo -C {rail.device} -P {rail.port}", cache=False)
    what = f"{remote.hostname} {rail.rail} ({rail.device}) subnet manager"
    answer = " ".join((result.stdout or result.stderr).split())[:200] or f"exit {result.rc}"
    assert result.rc == 0 and "SMINFO_MASTER" in result.stdout, mismatch(
        what, "a master answering", answer
    )


@pytest.mark.nodes("opensm")
@pytest.mark.each("unit", lambda inv, node: expected.role_services(inv, node, "infiniband"))
def test_service(remote: Remote, unit: str) -> None:
    """One `opensm@<rail>` per rail this host manages, enabled and running."""
    check([service_problem(remote.hostname, unit, *service_state(remote, unit))])
