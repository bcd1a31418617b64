"""lspci -vvv parser and PCIe path helper against real output (see tests/fixtures/real/SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainbed.parse.lspci import PciDevice, PciLink, find_device, parse_lspci, pci_path

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"
XE9680 = FIXTURES / (
    "lspci_vvv_dell_xe9680_gpu0_pex890xx_switch_h100_cx7_cx6dx_acs_off_16gts_downgraded.txt"
)

# address, class, express type, (cap GT/s, cap width), (sta GT/s, sta width), downgraded, driver
XE9680_DEVICES = [
    ("15:01.0", "PCI bridge", "Root Port", (32, 16), (32, 16), False, "pcieport"),
    ("16:00.0", "PCI bridge", "Upstream Port", (32, 16), (32, 16), False, "pcieport"),
    ("17:00.0", "PCI bridge", "Downstream Port", (32, 4), (16, 4), True, "pcieport"),
    ("17:01.0", "PCI bridge", "Downstream Port", (32, 16), (32, 16), False, "pcieport"),
    ("17:02.0", "PCI bridge", "Downstream Port", (32, 16), (32, 16), False, "pcieport"),
    ("17:03.0", "PCI bridge", "Downstream Port", (32, 16), (16, 16), True, "pcieport"),
    ("17:1f.0", "PCI bridge", "Downstream Port", (32, 16), (32, 16), False, "pcieport"),
    ("18:00.0", "Non-Volatile memory controller", "Endpoint", (16, 4), (16, 4), False, "nvme"),
    ("19:00.0", "3D controller", "Endpoint", (32, 16), (32, 16), False, "nvidia"),
    ("1a:00.0", "Ethernet controller", "Endpoint", (32, 16), (32, 16), False, "mlx5_core"),
    ("1b:00.0", "Ethernet controller", "Endpoint", (16, 16), (16, 16), False, "mlx5_core"),
    ("1b:00.1", "Ethernet controller", "Endpoint", (16, 16), (16, 16), False, "mlx5_core"),
    (
        "1c:00.0",
        "Serial Attached SCSI controller",
        "Endpoint",
        (32, 16),
        (32, 16),
        False,
        "mpt3sas",
    ),
]


def _devices() -> list[PciDevice]:
    return parse_lspci(XE9680.read_text())


def test_xe9680_device_table() -> None:
    got = [
        (
            d.address,
            d.device_class,
            d.express_type,
            (d.link_cap.speed_gts, d.link_cap.width) if d.link_cap else None,
            (d.link_status.speed_gts, d.link_status.width) if d.link_status else None,
            d.downgraded,
            d.driver,
        )
        for d in _devices()
    ]
    assert got == XE9680_DEVICES


def test_xe9680_names_marks_and_bridges() -> None:
    by = {d.address: d for d in _devices()}

    assert by["19:00.0"].name == "NVIDIA Corporation Device 2330 (rev a1)"
    assert by["19:00.0"].bus_id == "00000000:19:00.0"
    assert by["1a:00.0"].name == "Mellanox Technologies MT2910 Family [ConnectX-7]"
    assert by["17:03.0"].link_status == PciLink(16.0, 16, "downgraded", "ok")
    assert by["17:00.0"].link_status == PciLink(16.0, 4, "downgraded", "ok")
    assert by["18:00.0"].link_status == PciLink(16.0, 4, "ok", "ok")  # the Gen4 NVMe itself
    assert (by["15:01.0"].secondary, by["15:01.0"].subordinate) == (0x16, 0x1C)
    assert (by["17:01.0"].secondary, by["17:01.0"].subordinate) == (0x19, 0x19)
    assert by["19:00.0"].secondary is None
    # ACS: capable of redirects, all controls off (the P2P-friendly setting).
    assert by["15:01.0"].acs_capability["ReqRedir"] is True
    assert by["15:01.0"].acs_control == dict.fromkeys(
        [
            "SrcValid",
            "TransBlk",
            "ReqRedir",
            "CmpltRedir",
            "UpstreamFwd",
            "EgressCtrl",
            "DirectTrans",
        ],
        False,
    )
    assert [d.address for d in _devices() if d.acs_control] == [
        "15:01.0", "17:00.0", "17:01.0", "17:02.0", "17:03.0", "17:1f.0", "1b:00.0", "1b:00.1",
    ]  # fmt: skip
    assert not any(d.acs_redirects for d in _devices())


@pytest.mark.parametrize(
    ("address", "bridges", "downgraded"),
    [
        ("19:00.0", ["17:01.0", "16:00.0", "15:01.0"], []),  # H100: clean Gen5 x16 path
        ("0000:1a:00.0", ["17:02.0", "16:00.0", "15:01.0"], []),  # CX-7
        ("1b:00.1", ["17:03.0", "16:00.0", "15:01.0"], ["17:03.0"]),  # CX-6 Dx behind Gen4 port
        ("00000000:18:00.0", ["17:00.0", "16:00.0", "15:01.0"], ["17:00.0"]),  # NVMe
        ("15:01.0", [], []),  # the root port: nothing above it in this output
    ],
)
def test_xe9680_paths(address: str, bridges: list[str], downgraded: list[str]) -> None:
    path = pci_path(_devices(), address)
    assert path is not None
    assert [b.address for b in path.bridges] == bridges
    assert [d.address for d in path.downgraded] == downgraded
    assert path.acs_redirect == ()


def test_acs_redirect_on_a_bridge_is_named() -> None:
    # The real file with one control flipped: the switch port above the GPU redirects requests.
    text = XE9680.read_text()
    block = text.index("17:01.0 PCI bridge")
    acs = text.index("ACSCtl:\tSrcValid- TransBlk- ReqRedir-", block)
    text = text[:acs] + text[acs:].replace("ReqRedir-", "ReqRedir+", 1)

    path = pci_path(parse_lspci(text), "19:00.0")

    assert path is not None
    assert [(b.address, b.acs_redirects) for b in path.acs_redirect] == [("17:01.0", ("ReqRedir",))]


def test_unmarked_link_status_compared_with_capability() -> None:
    # pciutils before 3.7 print no (ok)/(downgraded); constructed block in that form.
    text = (
        "3b:00.0 3D controller: NVIDIA Corporation GH100 [H100 SXM5 80GB] (rev a1)\n"
        "\t\tLnkCap:\tPort #0, Speed 32GT/s, Width x16, ASPM not supported\n"
        "\t\tLnkSta:\tSpeed 32GT/s, Width x8, TrErr- Train- SlotClk+ DLActive- BWMgmt- ABWMgmt-\n"
    )
    (device,) = parse_lspci(text)
    assert device.link_status == PciLink(32.0, 8)
    assert device.downgraded is True


def test_missing_device_and_garbage() -> None:
    assert pci_path(_devices(), "99:00.0") is None
    assert find_device(_devices(), "not a bus id") is None
    assert parse_lspci("lspci: Unable to load libkmod resources: error -2\n") == []
