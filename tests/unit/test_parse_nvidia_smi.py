"""nvidia-smi parsers against real output (tests/fixtures/real, see SOURCES.md)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from trainbed.parse.ibv_devinfo import parse_ibv_devinfo
from trainbed.parse.nvidia_smi import (
    EccCounts,
    nearest_nic,
    normalize_bus_id,
    parse_csv_query,
    parse_query,
    parse_table,
    parse_topology,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"


def _read(name: str) -> str:
    return (FIXTURES / name).read_text()


# --------------------------------------------------------------------------- -q

Q_BUS_IDS = [f"00000000:{b}:00.0" for b in ("53", "64", "75", "86", "97", "A8", "B9", "CA")]


def test_query_8xh100_535() -> None:
    gpus = parse_query(_read("nvidia_smi_q_8xH100_535.183.01.txt"))

    assert [g.index for g in gpus] == list(range(8))
    assert [g.bus_id for g in gpus] == Q_BUS_IDS
    assert {g.product_name for g in gpus} == {"NVIDIA H100 80GB HBM3"}
    assert {g.driver_version for g in gpus} == {"535.183.01"}
    assert {g.cuda_version for g in gpus} == {"12.2"}
    assert all(g.persistence_mode is True for g in gpus)
    assert {g.memory_total_mib for g in gpus} == {81559}
    assert {g.ecc_mode for g in gpus} == {"Enabled"}
    assert {g.fabric_state for g in gpus} == {"Completed"}
    assert {g.fabric_status for g in gpus} == {"Success"}
    for g in gpus:
        assert g.volatile_uncorrectable_ecc == 0
        assert g.aggregate_uncorrectable_ecc == 0
        assert g.remapped_rows_pending is False
        assert g.remapped_rows_failure is False
        assert g.remapped_rows_uncorrectable == 0

    first = gpus[0]
    assert first.serial == "1655022005478"
    assert first.uuid == "GPU-566e6f65-c38e-b12f-4824-6944218668b9"
    assert first.vbios_version == "96.00.74.00.01"
    # Module ID (the HGX baseboard slot) is not the index: GPU 0 sits in module 7.
    assert [g.module_id for g in gpus] == [7, 5, 6, 8, 1, 3, 4, 2]
    assert [g.minor_number for g in gpus] == list(range(8))
    assert gpus[7].uuid == "GPU-7e78e6c8-c71c-66c7-9ded-f8836cecab32"


def test_query_gpu_with_running_process_parses_like_the_others() -> None:
    # GPU 2 has a "Processes" block with nested keys instead of "Processes : None".
    gpus = parse_query(_read("nvidia_smi_q_8xH100_535.183.01.txt"))
    assert gpus[2].serial == "1654922018857"
    assert gpus[2].memory_total_mib == 81559


def test_query_older_ecc_layout_and_missing_fields() -> None:
    text = """\
Driver Version                            : 470.57.02
CUDA Version                              : 11.4

GPU 00000000:07:00.0
    Product Name                          : A100-SXM4-40GB
    Persistence Mode                      : Disabled
    ECC Mode
        Current                           : Enabled
        Pending                           : Enabled
    ECC Errors
        Volatile
            Single Bit
                Device Memory             : 0
                Total                     : 0
            Double Bit
                Device Memory             : 2
                Total                     : 2
        Aggregate
            Single Bit
                Total                     : N/A
            Double Bit
                Total                     : N/A
"""
    (gpu,) = parse_query(text)
    assert gpu.bus_id == "00000000:07:00.0"
    assert gpu.persistence_mode is False
    assert gpu.volatile_uncorrectable_ecc == 2
    assert gpu.aggregate_uncorrectable_ecc is None
    assert gpu.fabric_state is None
    assert gpu.remapped_rows_pending is None
    assert gpu.memory_total_mib is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("00000000:19:00.0", "00000000:19:00.0"),
        ("0000:3b:00.0", "00000000:3B:00.0"),
        ("9b:00.0", "00000000:9B:00.0"),
        ("not a bus id", "NOT A BUS ID"),
    ],
)
def test_normalize_bus_id(raw: str, expected: str) -> None:
    assert normalize_bus_id(raw) == expected


# --------------------------------------------------------------------------- table


def test_table_8xh100_550() -> None:
    table = parse_table(_read("nvidia_smi_table_8xH100_550.90.07.txt"))

    assert table.smi_version == "550.90.07"
    assert table.driver_version == "550.90.07"
    assert table.cuda_version == "12.4"
    assert [g.index for g in table.gpus] == list(range(8))
    assert [g.bus_id for g in table.gpus] == [
        f"00000000:{b}:00.0" for b in ("19", "3B", "4C", "5D", "9B", "BB", "CB", "DB")
    ]
    assert {g.name for g in table.gpus} == {"NVIDIA H100 80GB HBM3"}
    assert all(g.persistence_mode is True for g in table.gpus)
    assert {(g.memory_used_mib, g.memory_total_mib) for g in table.gpus} == {(1, 81559)}
    assert [g.temperature_c for g in table.gpus] == [27, 24, 23, 23, 27, 22, 24, 23]
    assert table.gpus[0].power_draw_w == 72
    assert {g.power_cap_w for g in table.gpus} == {700}
    assert {g.volatile_uncorrectable_ecc for g in table.gpus} == {0}
    assert {g.compute_mode for g in table.gpus} == {"Default"}


def test_table_without_gpus() -> None:
    table = parse_table("NVIDIA-SMI has failed because it couldn't communicate with the driver.")
    assert table.gpus == ()
    assert table.driver_version is None


# --------------------------------------------------------------------------- CSV

CSV_FIELDS = ["index", "name", "pci.bus_id", "persistence_mode", "memory.total", "driver_version"]

# Not captured from a machine: what nvidia-smi prints for
#   --query-gpu=index,name,pci.bus_id,persistence_mode,memory.total,driver_version
#   --format=csv,noheader,nounits
# built from the values of the real -q fixture (nvidia_smi_q_8xH100_535.183.01.txt).
CSV_FROM_Q_FIXTURE = "".join(
    f"{i}, NVIDIA H100 80GB HBM3, {bus}, Enabled, 81559, 535.183.01\n"
    for i, bus in enumerate(Q_BUS_IDS)
)


def test_csv_query_matches_q_fixture() -> None:
    rows = parse_csv_query(CSV_FROM_Q_FIXTURE, CSV_FIELDS)
    gpus = parse_query(_read("nvidia_smi_q_8xH100_535.183.01.txt"))

    assert len(rows) == 8
    assert rows[0] == {
        "index": 0,
        "name": "NVIDIA H100 80GB HBM3",
        "pci.bus_id": "00000000:53:00.0",
        "persistence_mode": True,
        "memory.total": 81559,
        "driver_version": "535.183.01",
    }
    for row, gpu in zip(rows, gpus, strict=True):
        assert row["index"] == gpu.index
        assert row["pci.bus_id"] == gpu.bus_id
        assert row["memory.total"] == gpu.memory_total_mib


def test_csv_query_header_units_and_na() -> None:
    text = (
        "index, name, pci.bus_id, persistence_mode, memory.total [MiB], driver_version\n"
        "0, NVIDIA H100 80GB HBM3, 00000000:19:00.0, Disabled, 81559 MiB, 550.90.07\n"
        "1, NVIDIA H100 80GB HBM3, 00000000:3B:00.0, [N/A], [N/A], 550.90.07\n"
        "garbage line\n"
    )
    rows = parse_csv_query(text, CSV_FIELDS)
    assert [r["index"] for r in rows] == [0, 1]
    assert rows[0]["persistence_mode"] is False
    assert rows[0]["memory.total"] == 81559
    assert rows[1]["persistence_mode"] is None
    assert rows[1]["memory.total"] is None


# --------------------------------------------------------------------------- topology


def test_topology_spaces_rendering_8xh100() -> None:
    topo = parse_topology(_read("nvidia_smi_topo_m_8xH100_8nic_spaces.txt"))

    assert topo.gpus == tuple(f"GPU{i}" for i in range(8))
    assert topo.nics == tuple(f"NIC{i}" for i in range(8))
    assert topo.nic_legend["NIC0"] == "mlx5_0"
    assert topo.nic_legend["NIC7"] == "mlx5_7"
    assert topo.relations["GPU0"]["GPU0"] == "X"
    assert topo.relations["GPU0"]["GPU1"] == "NV18"
    assert topo.relations["GPU0"]["NIC0"] == "PIX"
    assert topo.relations["GPU0"]["NIC1"] == "NODE"
    assert topo.relations["GPU0"]["NIC4"] == "SYS"
    assert topo.relations["NIC7"]["NIC7"] == "X"
    assert topo.cpu_affinity[0] == "0-47,96-143"
    assert topo.cpu_affinity[7] == "48-95,144-191"
    assert topo.numa_affinity == {i: "0" if i < 4 else "1" for i in range(8)}
    assert [nearest_nic(topo, i) for i in range(8)] == [f"mlx5_{i}" for i in range(8)]


def test_topology_tabs_h20_legend_starts_at_mlx5_1() -> None:
    topo = parse_topology(_read("nvidia_smi_topo_m_8xH20_hgx_8nic_tabs.txt"))

    assert len(topo.gpus) == 8
    assert len(topo.nics) == 8
    assert topo.nic_legend["NIC0"] == "mlx5_1"
    assert topo.relations["GPU5"]["NIC5"] == "PIX"
    assert topo.relations["GPU5"]["NIC0"] == "SYS"
    assert topo.numa_affinity[5] == "1"  # the empty tab cell before "N/A" is not a value
    assert [nearest_nic(topo, i) for i in range(8)] == [f"mlx5_{i + 1}" for i in range(8)]


def test_topology_and_spaces_rendering_agree() -> None:
    spaces = parse_topology(_read("nvidia_smi_topo_m_8xH100_8nic_spaces.txt"))
    tabs = parse_topology(_read("nvidia_smi_topo_m_8xH20_hgx_8nic_tabs.txt"))
    assert spaces.relations == tabs.relations
    assert spaces.cpu_affinity == tabs.cpu_affinity


def test_topology_mp_dell_12_nics_three_pix_per_gpu0() -> None:
    topo = parse_topology(_read("nvidia_smi_topo_mp_8xH100_12nic_dell_cx7_pcie_only.txt"))

    assert len(topo.gpus) == 8
    assert topo.nics == tuple(f"NIC{i}" for i in range(12))
    assert topo.nic_legend["NIC11"] == "mlx5_11"
    assert [n for n, rel in topo.relations["GPU0"].items() if rel == "PIX"] == [
        "NIC0",
        "NIC1",
        "NIC2",
    ]
    assert topo.relations["GPU0"]["GPU1"] == "NODE"  # -mp: PCIe paths only, no NV#
    assert topo.cpu_affinity[0] == "0,2,4,6,8,10"
    assert topo.cpu_affinity[4] == "1,3,5,7,9,11"
    # Ties go to the first NIC listed.
    assert nearest_nic(topo, 0) == "mlx5_0"
    assert nearest_nic(topo, 4) == "mlx5_6"


def test_nearest_nic_among_ib_hcas_matches_dell_rails() -> None:
    # Same machine (DeepEP issue 397): ibv_devinfo lists the 8 IB HCAs; the other four NICs
    # share a PCIe switch with GPU0/GPU4. Restricted to the HCAs, each GPU gets its own rail.
    topo = parse_topology(_read("nvidia_smi_topo_mp_8xH100_12nic_dell_cx7_pcie_only.txt"))
    hcas = [
        d.hca_id for d in parse_ibv_devinfo(_read("ibv_devinfo_dell_cx7_DEL_psid_8x_ib_active.txt"))
    ]

    rails = [nearest_nic(topo, i, among=hcas) for i in range(8)]
    assert (
        rails
        == hcas
        == [
            "mlx5_0",
            "mlx5_3",
            "mlx5_4",
            "mlx5_5",
            "mlx5_6",
            "mlx5_9",
            "mlx5_10",
            "mlx5_11",
        ]
    )


def test_nearest_nic_missing_gpu_and_empty() -> None:
    topo = parse_topology(_read("nvidia_smi_topo_m_8xH100_8nic_spaces.txt"))
    assert nearest_nic(topo, 8) is None
    assert nearest_nic(parse_topology(""), 0) is None
    assert nearest_nic(topo, 0, among=["mlx5_99"]) is None


# ------------------------------------------------- -q: ECC, remapping, clock events, PCIe link

A10_REMAP = "nvidia_smi_q_1xA10_535.129.03_remapped_rows_uncorrectable4_pending_yes.txt"
H100_BRAKE = "nvidia_smi_q_8xH100_535.161.08_hw_power_brake_slowdown_active_pcie_replays.txt"
ZERO_ECC = EccCounts(**{f.name: 0 for f in dataclasses.fields(EccCounts)})


def test_query_a10_remapped_rows_pending() -> None:
    (gpu,) = parse_query(_read(A10_REMAP))

    assert (gpu.bus_id, gpu.product_name) == ("00000000:07:00.0", "NVIDIA A10")
    assert (gpu.serial, gpu.uuid) == ("1324521052681", "GPU-73d12ef7-f589-f867-4259-c7090ab44736")
    assert gpu.vbios_version == "94.02.5C.00.04"
    assert gpu.remapped_rows_pending is True
    assert gpu.remapped_rows_uncorrectable == 4
    assert gpu.remapped_rows_correctable == 0
    assert gpu.remapped_rows_failure is False
    # ECC counters are all 0 although rows were remapped: the remap state is the signal.
    assert gpu.ecc == ZERO_ECC
    assert (gpu.retired_pages_single_bit, gpu.retired_pages_pending) == (None, None)  # N/A
    assert gpu.active_clock_event_reasons == ("Idle",)
    assert (gpu.pcie_gen_current, gpu.pcie_gen_max, gpu.pcie_gen_host_max) == (4, 4, None)
    assert (gpu.pcie_width_current, gpu.pcie_width_max) == (16, 16)


H100_BRAKE_GPUS = [
    # bus id, serial, replays since reset
    ("00000000:19:00.0", "1650124031592", 67),
    ("00000000:3B:00.0", "1650124008135", 63),
    ("00000000:4C:00.0", "1650124047722", 52),
    ("00000000:5D:00.0", "1650124032506", 43),
    ("00000000:9B:00.0", "1650124030635", 49),
    ("00000000:BB:00.0", "1650124048576", 53),
    ("00000000:CB:00.0", "1650124047010", 82),
    ("00000000:DB:00.0", "1650124007084", 67),
]


def test_query_8xh100_power_brake_slowdown_active() -> None:
    gpus = parse_query(_read(H100_BRAKE))

    assert [(g.bus_id, g.serial, g.pcie_replays) for g in gpus] == H100_BRAKE_GPUS
    assert {g.vbios_version for g in gpus} == {"96.00.74.00.0D"}
    for gpu in gpus:
        assert gpu.active_clock_event_reasons == ("HW Slowdown", "HW Power Brake Slowdown")
        assert gpu.clock_event_reasons["HW Thermal Slowdown"] is False
        assert gpu.clock_event_reasons["SW Thermal Slowdown"] is False
        assert (gpu.pcie_gen_current, gpu.pcie_gen_max, gpu.pcie_gen_device_max) == (5, 5, 5)
        assert (gpu.pcie_width_current, gpu.pcie_width_max) == (16, 16)
        assert gpu.ecc == ZERO_ECC
        assert gpu.remapped_rows_pending is False
        assert gpu.fabric_state == "Completed"


def test_query_8xh100_535_183_clock_events_on_one_gpu() -> None:
    gpus = parse_query(_read("nvidia_smi_q_8xH100_535.183.01.txt"))
    assert [g.active_clock_event_reasons for g in gpus] == [("Idle",)] * 2 + [
        ("SW Power Cap", "HW Power Brake Slowdown", "SW Thermal Slowdown")
    ] + [("Idle",)] * 5
    assert [g.pcie_replays for g in gpus] == [120, 111, 58, 60, 63, 93, 69, 78]


def test_query_d_ecc_555_parity_sec_ded_layout() -> None:
    # 555 splits SRAM uncorrectable into Parity and SEC-DED; both are summed.
    gpus = parse_query(_read("nvidia_smi_q_d_ecc_2xA100_pcie_555.42.02_zero_errors.txt"))
    assert [g.bus_id for g in gpus] == ["00000000:12:00.0", "00000000:8A:00.0"]
    assert all(g.ecc == ZERO_ECC and g.ecc_mode == "Enabled" for g in gpus)
    assert all(g.clock_event_reasons == {} for g in gpus)


def test_query_d_performance_only_clock_events() -> None:
    gpus = parse_query(_read("nvidia_smi_q_d_performance_2xA100_pcie_555.42.02_idle.txt"))
    assert [g.active_clock_event_reasons for g in gpus] == [("Idle",), ("Idle",)]
    assert all(g.ecc is None and g.pcie_gen_current is None for g in gpus)


def _mutated(name: str, old: str, new: str) -> str:
    """A real file with one value changed: the layout stays real, the fault is ours."""
    text = _read(name)
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "field", "value"),
    [
        # 555 layout: Parity and SEC-DED both count as SRAM uncorrectable (first = volatile).
        ("SRAM Uncorrectable Parity     : 0", "SRAM Uncorrectable Parity     : 2",
         "volatile_sram_uncorrectable", 2),
        ("SRAM Uncorrectable SEC-DED    : 0", "SRAM Uncorrectable SEC-DED    : 3",
         "volatile_sram_uncorrectable", 3),
        ("DRAM Uncorrectable            : 0", "DRAM Uncorrectable            : 1",
         "volatile_dram_uncorrectable", 1),
        ("DRAM Correctable              : 0", "DRAM Correctable              : 7",
         "volatile_dram_correctable", 7),
    ],
)  # fmt: skip
def test_query_ecc_counter_placement(old: str, new: str, field: str, value: int) -> None:
    text = _mutated("nvidia_smi_q_d_ecc_2xA100_pcie_555.42.02_zero_errors.txt", old, new)
    gpu = parse_query(text)[0]
    assert gpu.ecc is not None
    assert getattr(gpu.ecc, field) == value
    assert sum(v or 0 for v in dataclasses.astuple(gpu.ecc)) == value


# Constructed (no real sample in the fixture set): the pre-525 Single/Double Bit layout and
# the pre-535 "Clocks Throttle Reasons" title.
CONSTRUCTED_OLD_LAYOUT = """\
GPU 00000000:3B:00.0
    ECC Errors
        Volatile
            Single Bit
                Device Memory             : 5
                Register File             : 1
                L1 Cache                  : 0
                L2 Cache                  : 0
                Texture Memory            : N/A
                Total                     : 6
            Double Bit
                Device Memory             : 2
                Register File             : 0
                L1 Cache                  : 0
                L2 Cache                  : 1
                Texture Memory            : N/A
                Total                     : 3
    Retired Pages
        Single Bit ECC                    : 1
        Double Bit ECC                    : 2
        Pending                           : Yes
    Clocks Throttle Reasons
        Idle                              : Not Active
        HW Slowdown                       : Active
"""


def test_constructed_pre525_layout() -> None:
    (gpu,) = parse_query(CONSTRUCTED_OLD_LAYOUT)
    assert gpu.ecc == EccCounts(
        volatile_sram_correctable=1,
        volatile_sram_uncorrectable=1,
        volatile_dram_correctable=5,
        volatile_dram_uncorrectable=2,
    )
    assert gpu.volatile_uncorrectable_ecc == 3
    assert (gpu.retired_pages_single_bit, gpu.retired_pages_double_bit) == (1, 2)
    assert gpu.retired_pages_pending is True
    assert gpu.active_clock_event_reasons == ("HW Slowdown",)
