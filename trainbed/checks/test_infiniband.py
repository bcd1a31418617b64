"""infiniband: every HCA of the inventory up at the rate and link layer it says, on the locked
firmware (else one across compute nodes), a subnet manager answering on every rail, each port on
its own rail's fabric (cabling) and cabled to the leaf port the inventory gives, one OpenSM per
rail on its hosts; link quality: error counters' growth across the run, BER where mlxlink is."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import pytest

from trainbed.checks import expected, firmware, health, reads
from trainbed.inventory.model import ComputeNode, Hca, Inventory, Node
from trainbed.parse.ibnetdiscover import parse_ibnetdiscover_ports
from trainbed.parse.ibstat import CaInfo, parse_ibstat
from trainbed.remote import Remote, Unreachable, command
from trainbed.verdicts import NotRun, ber, cabling, check, hca_port, ib_counters, mismatch

pytestmark = pytest.mark.nodes("infiniband")


def _cas(remote: Remote) -> dict[str, CaInfo]:
    return {ca.name: ca for ca in parse_ibstat(remote.output("ibstat"))}


SMINFO = "sminfo -C %s -P %s"


@reads.register("infiniband")
def _reads(inventory: Inventory, node: Node) -> list[str]:
    """This module's reads on `node` but the late counters: ibstat, each rail's subnet manager
    (one reading, judged by test_subnet_manager and test_rail_cabling), mlxlink on each HCA
    (where it is not installed, each answers 127 at once)."""
    return [
        "ibstat",
        *(command(SMINFO, h.device, h.port) for h in expected.rails_of(inventory, node).values()),
        command("command -v %s", "mlxlink"),
        *(
            command(health.MLXLINK, h.device, h.port)
            for h in expected.hcas(inventory, node).values()
        ),
    ]


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
    result = remote.run(SMINFO, rail.device, rail.port)
    what = f"{remote.hostname} {rail.rail} ({rail.device}) subnet manager"
    answer = " ".join((result.stdout or result.stderr).split())[:200] or f"exit {result.rc}"
    assert result.rc == 0 and "SMINFO_MASTER" in result.stdout, mismatch(
        what, "a master answering", answer
    )


@pytest.mark.each("rail", expected.rails_of)
def test_rail_cabling(remote: Remote, inventory: Inventory, rail: Hca) -> None:
    """The port is on its rail's fabric: the master subnet manager it sees is one the inventory
    places on that rail (`trainbed.verdicts.cabling`), not another rail's."""
    candidates = cabling.sm_rails(
        inventory.networks.infiniband.rails, inventory.subnet_manager_hcas
    )
    if not any(r == rail.rail for r in candidates.values()):
        pytest.skip(f"the inventory gives no port GUID of {rail.rail}'s subnet manager hosts")
    master = cabling.master_guid(remote.run(SMINFO, rail.device, rail.port).stdout)
    if master is None:
        pytest.skip(f"{remote.hostname} {rail.device}: no master answers (test_subnet_manager)")
    check(
        cabling.problems(cabling.Seen(remote.hostname, rail.device, rail.rail, master), candidates)
    )


#: One sweep of a rail's fabric, from a port on it: the CA lines name each HCA's leaf port.
IBNETDISCOVER = "ibnetdiscover -p -C %s -P %s"


@reads.register("opensm")
def _sweep_reads(inventory: Inventory, node: Node) -> list[str]:
    """The sweeps of the rails this subnet manager host sweeps for test_switch_neighbour."""
    return [
        command(IBNETDISCOVER, hca.device, hca.port)
        for host, hca in cabling.sweepers(inventory).values()
        if host == node.hostname
    ]


Sweep = tuple[str, dict[str, cabling.Neighbour]] | NotRun


@pytest.fixture(scope="session")
def rail_sweeps(
    inventory: Inventory, connect: Callable[[str], Remote], unreachable: dict[str, str]
) -> Callable[[str], Sweep]:
    """`sweep(rail)`: where the rail's sweep ran from and each CA port's neighbour, or why it
    could not run; each rail swept once a session, when its first HCA's check asks."""
    sweepers = cabling.sweepers(inventory)
    done: dict[str, Sweep] = {}

    def sweep(rail: str) -> Sweep:
        if rail not in done:
            done[rail] = _sweep(inventory, connect, unreachable, rail, sweepers.get(rail))
        return done[rail]

    return sweep


def _sweep(
    inventory: Inventory,
    connect: Callable[[str], Remote],
    unreachable: dict[str, str],
    rail: str,
    sweeper: tuple[str, Hca] | None,
) -> Sweep:
    what = f"{rail} fabric sweep"
    if sweeper is None:
        return NotRun(what, f"no subnet manager host of {rail} has a port on it")
    host, hca = sweeper
    if host in unreachable:
        return NotRun(what, f"{host} is unreachable: {unreachable[host]}")
    remote = connect(host)
    # All the host's sweeps in one round trip (already read when its own checks read ahead).
    remote.prefetch("fabric sweeps", _sweep_reads(inventory, inventory.node(host)))
    try:
        out = health.read(remote, f"{what} from {host}", IBNETDISCOVER, hca.device, hca.port)
    except Unreachable as exc:
        return NotRun(what, f"{host} is unreachable: {exc}")
    if isinstance(out, NotRun):
        return out
    seen = cabling.neighbours(parse_ibnetdiscover_ports(out))
    if not seen:
        # Not "every port absent": a sweep read as nothing must not pass every HCA.
        return NotRun(what, f"`ibnetdiscover -p` on {host} {hca.device} lists no CA port")
    return f"ibnetdiscover on {host} {hca.device}", seen


@pytest.mark.each("rail", expected.rails_of)
def test_switch_neighbour(
    remote: Remote, inventory: Inventory, rail: Hca, rail_sweeps: Callable[[str], Sweep]
) -> None:
    """The port's cable ends at the leaf switch port the inventory gives (its `switch_port` on
    its `switch`, else the rail's), as the rail's fabric sweep sees it (`ibnetdiscover -p` from
    a subnet manager host: one per rail, `trainbed.verdicts.cabling`)."""
    if rail.switch_port is None:
        pytest.skip(f"the inventory gives no switch port of {remote.hostname} {rail.device}")
    if not rail.port_guid:
        pytest.skip(f"the inventory gives no port GUID of {remote.hostname} {rail.device}")
    leaf = rail.switch or next(r.switch for r in inventory.rails if r.name == rail.rail)
    where, seen = health.need(rail_sweeps(rail.rail))
    check(health.need(cabling.switch_problems(remote.hostname, rail, leaf, seen, where)))


# ------------------------------------------------------------------------- link quality

#: The least time between the two counter readings: growth over less says little.
MIN_READING_INTERVAL_S = 5.0


@pytest.mark.late
@pytest.mark.each("hca", expected.hcas)
def test_ib_link_errors(
    remote: Remote,
    inventory: Inventory,
    hca: Hca,
    first_counters: health.FirstReadings,
    warn: Callable[[Iterable[str]], None],
) -> None:
    """The port's error counters, read at the start of the run and again now (this check runs
    last), grow no more than `health.thresholds` allows: symbol errors and link error
    recoveries, link flaps (LinkDowned increments); other error counters that grow warn."""
    before, at = health.need(first_counters.get(remote.hostname, hca))
    wait = MIN_READING_INTERVAL_S - (time.monotonic() - at)
    if wait > 0:
        time.sleep(wait)
    # One round trip for the node's second readings, by the first of its HCAs' checks to ask.
    hcas = expected.hcas(inventory, inventory.node(remote.hostname)).values()
    remote.prefetch("late perfquery", (health.perfquery_command(h) for h in hcas))
    after = health.need(health.port_counters(remote, hca))
    thresholds = inventory.health.thresholds
    limits = ib_counters.Limits(thresholds.ib_symbol_error_growth, thresholds.ib_link_downed_growth)
    seconds = time.monotonic() - at
    health.outcome(
        ib_counters.problems(remote.hostname, hca.device, before, after, seconds, limits), warn
    )


@pytest.mark.each("hca", expected.hcas)
def test_ib_ber(
    remote: Remote, inventory: Inventory, hca: Hca, warn: Callable[[Iterable[str]], None]
) -> None:
    """The link's effective (post-FEC) BER from `mlxlink` under NDR's bounds (warn from
    5e-12, fail from 1e-11), where mlxlink (MFT/mstflint) is installed."""
    if not health.has_command(remote, "mlxlink"):
        pytest.skip(f"{remote.hostname}: mlxlink is not installed (MFT or mstflint): BER not read")
    thresholds = inventory.health.thresholds
    bounds = ber.Bounds(thresholds.ber_warn, thresholds.ber_error)
    info = health.need(health.mlxlink(remote, hca))
    health.outcome(ber.problems(remote.hostname, hca.device, info, bounds), warn)
