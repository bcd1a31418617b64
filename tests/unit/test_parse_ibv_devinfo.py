"""ibv_devinfo parser against real output (tests/fixtures/real, see SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

from trainbed.parse.ibv_devinfo import normalize_guid, parse_ibv_devinfo

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"


def _read(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_dell_cx7_8_hcas_active() -> None:
    devices = parse_ibv_devinfo(_read("ibv_devinfo_dell_cx7_DEL_psid_8x_ib_active.txt"))

    assert [d.hca_id for d in devices] == [
        "mlx5_0",
        "mlx5_3",
        "mlx5_4",
        "mlx5_5",
        "mlx5_6",
        "mlx5_9",
        "mlx5_10",
        "mlx5_11",
    ]
    for d in devices:
        assert d.transport == "InfiniBand"
        assert d.fw_ver == "28.41.1000"
        assert d.vendor_id == "0x02c9"
        assert d.vendor_part_id == 4129
        assert d.board_id == "DEL0000000036"
        assert d.phys_port_cnt == 1
        (port,) = d.ports
        assert port.number == 1
        assert port.state == "ACTIVE"
        assert port.state_code == 4
        assert (port.max_mtu, port.active_mtu) == (4096, 4096)
        assert port.sm_lid == 5790
        assert port.link_layer == "InfiniBand"
    assert devices[0].node_guid == "58a2:e103:001a:677e"
    assert devices[0].ports[0].port_lid == 3697
    assert devices[-1].ports[0].port_lid == 3735
    assert devices[-1].node_guid == "58a2:e103:001b:2136"


def test_normalize_guid_matches_ibstat_form() -> None:
    assert normalize_guid("58a2:e103:001a:677e") == "0x58a2e103001a677e"
    assert normalize_guid("0x58A2E10300A7820E") == "0x58a2e10300a7820e"
    assert normalize_guid("n/a") == "n/a"


def test_down_port_and_unknown_keys() -> None:
    text = (
        "hca_id:\tmlx5_1\n"
        "\ttransport:\t\t\tInfiniBand (0)\n"
        "\tfw_ver:\t\t\t\t28.39.1002\n"
        "\tphys_port_cnt:\t\t\t1\n"
        "\t\tport:\t1\n"
        "\t\t\tstate:\t\t\tPORT_DOWN (1)\n"
        "\t\t\tmax_mtu:\t\t4096 (5)\n"
        "\t\t\tactive_mtu:\t\t1024 (3)\n"
        "\t\t\tlink_layer:\t\tEthernet\n"
        "\t\t\tphys_state:\t\tDISABLED (3)\n"
    )
    (dev,) = parse_ibv_devinfo(text)
    assert dev.ports[0].state == "DOWN"
    assert dev.ports[0].state_code == 1
    assert dev.ports[0].active_mtu == 1024
    assert dev.ports[0].extra == {"phys_state": "DISABLED (3)"}
    assert dev.board_id is None
    assert parse_ibv_devinfo("No IB devices found\n") == []
