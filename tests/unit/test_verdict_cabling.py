"""Cabling: a port on another rail's fabric, named from the master SM its sminfo sees, by the one
verdict the acceptance check and the probe's localisation share."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PROD_YAML, REPO
from tests.unit.probe_helpers import inventory_for
from trainbed.inventory import load_inventory
from trainbed.inventory.model import Hca, Rail, SubnetManager
from trainbed.parse.ibnetdiscover import parse_ibnetdiscover_ports
from trainbed.probes.facts import cabling_findings, port_facts
from trainbed.probes.judge import IbVerdict
from trainbed.probes.localise import CABLING, HCA, Finding, localise
from trainbed.probes.matching import localise_quick
from trainbed.verdicts import NotRun, cabling

#: sminfo's answer line: not a captured sample, the layout of infiniband-diags' sminfo.c format
#: ("sminfo: sm lid %d sm guid 0x%" PRIx64 ", activity count %u priority %d state %d %s"), which
#: prints the GUID without leading zeros.
MASTER = "sminfo: sm lid 4 sm guid 0x2c903000d81f9, activity count 1329328 priority 14 state 3 SMINFO_MASTER\n"
STANDBY = "sminfo: sm lid 4 sm guid 0x2c903000d81f9, activity count 1 priority 14 state 2 SMINFO_STANDBY\n"

RAILS = [
    Rail(f"rail{r}", f"ib-rail{r}", f"0xfe8000000000000{r}", (SubnetManager("cp1", 15),))
    for r in range(4)
]
SM_HCAS = {
    "cp1": [Hca(f"mlx5_{r}", f"rail{r}", 1, f"0xa088c20300fa0b0{r}", None) for r in range(3)]
}


def test_master_guid_is_read_and_padded() -> None:
    assert cabling.master_guid(MASTER) == "0x0002c903000d81f9"
    assert cabling.master_guid(STANDBY) is None
    assert cabling.master_guid("sminfo: iberror: failed: query\n") is None


def test_sm_rails_from_the_subnet_manager_hosts_port_guids() -> None:
    candidates = cabling.sm_rails(RAILS, SM_HCAS)
    assert candidates == {f"0xa088c20300fa0b0{r}": f"rail{r}" for r in range(3)}  # rail3: no GUID


@pytest.mark.parametrize(
    ("rail", "master", "expected"),
    [
        ("rail1", "0xa088c20300fa0b01", []),
        (
            "rail1",
            "0xa088c20300fa0b02",
            [
                "gpu02 mlx5_3 is on rail2's fabric (master SM 0xa088c20300fa0b02), the inventory says rail1"
            ],
        ),
        (
            "rail1",
            "0x00000000deadbeef",
            [
                "gpu02 mlx5_3 sees master SM 0x00000000deadbeef, none of rail1's "
                "(0xa088c20300fa0b01): not on rail1's fabric"
            ],
        ),
        ("rail3", "0x00000000deadbeef", []),  # rail3's masters are not known: nothing judged
        ("rail1", None, []),  # no master answering: the subnet manager check says so
    ],
)
def test_problems(rail: str, master: str | None, expected: list[str]) -> None:
    seen = cabling.Seen("gpu02", "mlx5_3", rail, master)
    assert cabling.problems(seen, cabling.sm_rails(RAILS, SM_HCAS)) == expected


def _v(rnd: int, a: str, b: str, rail: str, passed: bool) -> IbVerdict:
    gbps = 390.0 if passed else None
    return IbVerdict(rnd, a, b, rail, f"hca-{rail}", f"hca-{rail}", gbps, 360.0, passed)


def test_a_miscabled_port_is_cabling_not_a_dead_hca() -> None:
    """gpu02's rail1 port is on rail2's fabric: its pairs on rail1 fail in every round; without
    the cabling finding the matrix names its HCA, with it only the cabling finding remains."""
    nodes = ["gpu01", "gpu02", "gpu03", "gpu04"]
    ib = [_v(1, "gpu01", "gpu02", "rail1", False), _v(1, "gpu03", "gpu04", "rail1", True)]
    ib += [_v(2, "gpu02", "gpu03", "rail1", False), _v(2, "gpu01", "gpu04", "rail1", True)]
    ib += [_v(1, a, b, "rail0", True) for a, b in (nodes[:2], nodes[2:])]
    blamed = [(f.kind, f.node, f.rail) for f in localise_quick(ib)]
    assert blamed == [(HCA, "gpu02", "rail1")]
    evidence = "gpu02 hca-rail1 is on rail2's fabric (master SM 0x...), the inventory says rail1"
    found = Finding(CABLING, "gpu02", "hca-rail1", "rail1", None, evidence, nodes=("gpu02",))
    assert localise_quick(ib, cabling=[found]) == [found]


def _facts(sminfo: dict[str, str]) -> str:
    blocks = "".join(f"=== sminfo {ca}\n{text}" for ca, text in sminfo.items())
    return f"=== driver\n535.183.01\n=== ibstat\n{blocks}=== perftest\n24.10.0\n=== end\n"


def _sminfo_line(guid: str) -> str:
    return MASTER.replace("0x2c903000d81f9", guid)


def test_probe_facts_name_a_miscabled_port_in_quick_and_full_mode(tmp_path: Path) -> None:
    """The facts script's sminfo blocks → the run's port facts → one cabling finding, the same
    line the acceptance check prints; its pairs are left out of both localisations."""
    inv = inventory_for(tmp_path, 4, 1)
    candidates = cabling.sm_rails(
        inv.networks.infiniband.rails, {n.hostname: n.hcas for n in inv.nodes}
    )
    master = {rail: guid for guid, rail in candidates.items()}
    facts = {}
    for node in inv.compute:
        seen = {h.device: master[h.rail] for h in node.hcas}
        if node.hostname == "gpu02":
            seen[node.hcas[3].device] = master[node.hcas[4].rail]
        facts[node.hostname] = _facts({ca: _sminfo_line(g) for ca, g in seen.items()})
    ports = port_facts(inv, facts)
    (found,) = cabling_findings(inv, ports)
    gpu02 = inv.compute_node("gpu02")
    device, rail, other = gpu02.hcas[3].device, gpu02.hcas[3].rail, gpu02.hcas[4].rail
    assert (found.kind, found.node, found.hca, found.rail) == (CABLING, "gpu02", device, rail)
    assert found.evidence == (
        f"gpu02 {device} is on {other}'s fabric (master SM {master[other]}), "
        f"the inventory says {rail}"
    )
    failing = [_v(1, "gpu01", "gpu02", rail, False), _v(1, "gpu02", "gpu03", rail, False)]
    passing = [_v(1, "gpu01", "gpu03", rail, True), _v(1, "gpu03", "gpu04", rail, True)]
    assert localise([*failing, *passing], cabling=[found]) == [found]
    assert [f.kind for f in localise([*failing, *passing])] == [HCA]


# ----------------------------------------------------------------------- switch neighbours

#: Real `ibnetdiscover -p` lines (OSC's EDR fabric, see tests/fixtures/real/SOURCES.md).
SWEEP = cabling.neighbours(
    parse_ibnetdiscover_ports(
        (
            Path(__file__).parent.parent
            / "fixtures"
            / "real"
            / "ibnetdiscover_p_edr_fabric_selected_lines_unconnected_ports.txt"
        ).read_text()
    )
)


def test_neighbours_of_the_real_sweep() -> None:
    """CA lines only, by port GUID: the switch lines and unconnected ports name no HCA."""
    assert {
        "0x7cfe9003003b4bde": cabling.Neighbour("ib-i1l1s01", 10),
        "0x7cfe9003003b4b96": cabling.Neighbour("ib-i1l1s01", 11),
        "0x506b4b0300cc02a6": cabling.Neighbour("ib-i4l1s01", 35),
    } == SWEEP


def _hca(port: int | None, guid: str | None = "0x7cfe9003003b4bde") -> Hca:
    return Hca("mlx5_3", "rail0", 1, guid, None, None, port)


@pytest.mark.parametrize(
    ("hca", "leaf", "expected"),
    [
        (_hca(10), "ib-i1l1s01", []),
        (
            _hca(3),
            "ib-i1l1s01",
            [
                "gpu02 mlx5_3 is cabled to ib-i1l1s01 port 10, the inventory says ib-i1l1s01 port 3 (ibnetdiscover on cp1 mlx5_0)"
            ],
        ),
        (
            _hca(10),
            "ib-i1l1s02",
            [
                "gpu02 mlx5_3 is cabled to ib-i1l1s01 port 10, the inventory says ib-i1l1s02 port 10 (ibnetdiscover on cp1 mlx5_0)"
            ],
        ),
        (
            _hca(10, "0x7cfe9003003b4b96"),
            "ib-i1l1s01",
            [
                "gpu02 mlx5_3 is cabled to ib-i1l1s01 port 11, the inventory says ib-i1l1s01 port 10 (ibnetdiscover on cp1 mlx5_0)"
            ],
        ),
        # not in the sweep (down, or on another rail's fabric): could not be judged, not a pass;
        # the port and master-SM checks name the fault
        (
            _hca(7, "0xa088c20300000001"),
            "ib-i1l1s01",
            NotRun(
                "gpu02 mlx5_3 switch neighbour",
                "port GUID 0xa088c20300000001 is not in ibnetdiscover on cp1 mlx5_0 (the port is "
                "down or on another rail's fabric)",
            ),
        ),
        (_hca(None), "ib-i1l1s01", []),  # no switch port in the inventory: nothing judged
        (_hca(3, None), "ib-i1l1s01", []),  # no port GUID: the port cannot be found
    ],
    ids=["right", "other-port", "other-leaf", "another-hcas-port", "absent", "no-port", "no-guid"],
)
def test_switch_problems(hca: Hca, leaf: str, expected: list[str] | NotRun) -> None:
    sweep = "ibnetdiscover on cp1 mlx5_0"
    assert cabling.switch_problems("gpu02", hca, leaf, SWEEP, sweep) == expected


def test_port_guid_is_compared_padded() -> None:
    seen = {"0x0002c903000d81f9": cabling.Neighbour("leaf0", 4)}
    hca = Hca("mlx5_0", "rail0", 1, "0x2c903000d81f9", None, None, 4)
    assert cabling.switch_problems("gpu01", hca, "leaf0", seen, "x") == []


def test_each_rail_is_swept_once_from_its_first_subnet_manager_host() -> None:
    """The mock inventory gives switch ports: cp1 (master SM of every rail) sweeps each rail from
    its port on it; prod gives none, so nothing is swept."""
    mock = load_inventory(REPO / "inventory" / "mock.yaml").inventory
    assert {
        rail: (host, hca.device, hca.rail) for rail, (host, hca) in cabling.sweepers(mock).items()
    } == {f"rail{r}": ("cp1", f"mlx5_{r}", f"rail{r}") for r in range(8)}
    assert cabling.sweepers(load_inventory(PROD_YAML).inventory) == {}
