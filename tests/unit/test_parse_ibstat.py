"""ibstat parser against real output (tests/fixtures/real, see SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

from trainbed.parse.ibstat import parse_ibstat

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"


def _read(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_h100_node_8_cx7_ndr_active_plus_bond() -> None:
    cas = parse_ibstat(_read("ibstat_h100_node_8x_cx7_ndr400_all_active.txt"))

    assert [c.name for c in cas] == [
        "mlx5_0",
        "mlx5_1",
        "mlx5_4",
        "mlx5_5",
        "mlx5_6",
        "mlx5_7",
        "mlx5_8",
        "mlx5_9",
        "mlx5_bond_0",
    ]
    cx7 = cas[:8]
    assert {c.ca_type for c in cx7} == {"MT4129"}
    assert {c.firmware_version for c in cx7} == {"28.41.1000"}
    assert {c.num_ports for c in cas} == {1}
    for ca in cx7:
        (port,) = ca.ports
        assert port.number == 1
        assert (port.state, port.physical_state, port.rate) == ("Active", "LinkUp", 400)
        assert port.link_layer == "InfiniBand"
        assert port.sm_lid == 1
        assert port.port_guid == ca.node_guid
    assert cas[0].node_guid == "0x58a2e10300a7820e"
    assert cas[0].system_image_guid == "0x58a2e10300a7820e"
    assert cas[0].hardware_version == "0"
    assert cas[0].ports[0].base_lid == 128
    assert cas[7].ports[0].base_lid == 2015
    assert cas[0].ports[0].capability_mask == "0xa751e848"

    # The ninth CA is not a CX-7: a bonded Ethernet device (MT41692, BlueField-3) at 200.
    bond = cas[8]
    assert bond.ca_type == "MT41692"
    assert bond.firmware_version == "32.38.3056"
    assert bond.hardware_version == "1"
    assert bond.ports[0].rate == 200
    assert bond.ports[0].link_layer == "Ethernet"
    assert bond.ports[0].base_lid == 0
    assert bond.ports[0].port_guid == "0x201d97fffe0056cf"


def test_roce_node_some_down_polling_disabled() -> None:
    cas = parse_ibstat(_read("ibstat_h100_node_cx7_some_down_polling_mixed_eth.txt"))

    assert len(cas) == 12
    # ibstat lists CAs in lexical order: mlx5_10 comes before mlx5_2.
    assert [c.name for c in cas][:4] == ["mlx5_0", "mlx5_1", "mlx5_10", "mlx5_11"]
    by_name = {c.name: c for c in cas}
    assert {c.ports[0].link_layer for c in cas} == {"Ethernet"}
    assert sorted(n for n, c in by_name.items() if c.ca_type == "MT4125") == [
        "mlx5_1",
        "mlx5_2",
        "mlx5_7",
        "mlx5_8",
    ]
    assert by_name["mlx5_1"].firmware_version == "22.39.1002"
    assert by_name["mlx5_1"].ports[0].rate == 100
    assert by_name["mlx5_0"].firmware_version == "28.39.1002"

    down = {
        n: (c.ports[0].state, c.ports[0].physical_state, c.ports[0].rate)
        for n, c in by_name.items()
        if c.ports[0].state != "Active"
    }
    assert down == {
        "mlx5_11": ("Down", "Polling", 40),
        "mlx5_5": ("Down", "Disabled", 40),
    }
    # Dual-port CX-6 Dx functions share a system image GUID but not a node GUID.
    assert by_name["mlx5_2"].node_guid == "0xb83fd203002a1a1d"
    assert by_name["mlx5_2"].system_image_guid == "0xb83fd203002a1a1c"
    assert by_name["mlx5_1"].ports[0].port_guid == "0x0000000000000000"


def test_partial_and_empty_input() -> None:
    assert parse_ibstat("") == []
    assert parse_ibstat("ibstat: command not found\n") == []
    (ca,) = parse_ibstat(
        "CA 'mlx5_0'\n\tCA type: MT4129\n\tPort 1:\n\t\tState: Down\n\t\tRate: 2.5\n"
    )
    assert ca.ca_type == "MT4129"
    assert ca.firmware_version is None
    assert ca.ports[0].state == "Down"
    assert ca.ports[0].rate is None  # SDR 1x's 2.5 Gb/s is not a whole number
