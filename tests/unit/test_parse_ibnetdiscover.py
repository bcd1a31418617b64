"""ibnetdiscover -p parser against real output (tests/fixtures/real, see SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

from trainbed.parse.ibnetdiscover import IbPortLine, parse_ibnetdiscover_ports

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"
PORTS = FIXTURES / "ibnetdiscover_p_edr_fabric_selected_lines_unconnected_ports.txt"

# (type, lid, port, width, speed, description) -> (peer type, lid, port, description) or None
EXPECTED = [
    (("CA", 134, 1, "4x", "EDR", "o0001 HCA-1"), ("SW", 1719, 10, "ib-i1l1s01")),
    (("CA", 133, 1, "4x", "EDR", "o0002 HCA-1"), ("SW", 1719, 11, "ib-i1l1s01")),
    (("CA", 1432, 1, "4x", "EDR", "p0001 HCA-1"), ("SW", 2052, 35, "ib-i4l1s01")),
    (("SW", 1719, 10, "4x", "EDR", "ib-i1l1s01"), ("CA", 134, 1, "o0001 HCA-1")),
    (("SW", 1719, 11, "4x", "EDR", "ib-i1l1s01"), ("CA", 133, 1, "o0002 HCA-1")),
    (("SW", 1719, 1, "4x", "EDR", "ib-i1l1s01"), ("SW", 1516, 1, "ib-i1l2s01")),
    (("SW", 2052, 35, "4x", "EDR", "ib-i4l1s01"), ("CA", 1432, 1, "p0001 HCA-1")),
    (("SW", 2052, 37, "4x", "???", "ib-i4l1s01"), None),  # unconnected
    (("SW", 1781, 80, "4x", "SDR", "ib-i7l2s01"), None),  # unconnected split-mode port
]


def test_ports_report_edr_fabric() -> None:
    ports = parse_ibnetdiscover_ports(PORTS.read_text())

    got = [
        (
            (p.node_type, p.lid, p.port, p.width, p.speed, p.description),
            (p.peer_type, p.peer_lid, p.peer_port, p.peer_description) if p.connected else None,
        )
        for p in ports
    ]
    assert got == EXPECTED
    assert ports[0].guid == "0x7cfe9003003b4bde"
    assert ports[0].peer_guid == "0x7cfe9003009ce5b0"


def test_both_ends_of_a_cable_agree() -> None:
    ports = parse_ibnetdiscover_ports(PORTS.read_text())
    by_end = {(p.guid, p.port): p for p in ports}
    ca = by_end[("0x7cfe9003003b4bde", 1)]
    assert ca.peer_guid is not None and ca.peer_port is not None
    switch = by_end[(ca.peer_guid, ca.peer_port)]
    assert (switch.peer_guid, switch.peer_port) == (ca.guid, ca.port)


def test_other_lines_ignored() -> None:
    assert parse_ibnetdiscover_ports("#\n# Topology file: generated\nvendid=0x2c9\n") == []
    assert parse_ibnetdiscover_ports("SW 1 2 0xzz 4x EDR\n") == []
    assert parse_ibnetdiscover_ports("CA 1 1 0x1 4x HDR 'n1 HCA-1'\n") == [
        IbPortLine("CA", 1, 1, "0x1", "4x", "HDR", "n1 HCA-1")
    ]
