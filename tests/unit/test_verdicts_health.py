"""The hardware health verdicts against the real fixtures: what a careful reader of each output
concludes, failures as failures (and, where no real sample exists, clearly constructed input)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from trainbed.parse.dcgmi import parse_dcgmi_diag
from trainbed.parse.dmesg import parse_kernel_log
from trainbed.parse.lspci import find_device, parse_lspci
from trainbed.parse.mlxlink import MlxlinkInfo
from trainbed.parse.nvbandwidth import NvbandwidthRun, parse_nvbandwidth
from trainbed.parse.nvidia_smi import parse_query, parse_topology
from trainbed.parse.nvlink import parse_nvlink_status
from trainbed.parse.perfquery import PortCounters, parse_perfquery
from trainbed.verdicts import (
    Findings,
    ber,
    clocks,
    dcgm,
    ecc,
    ib_counters,
    nvbandwidth,
    nvlink,
    pcie,
    xid,
)

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"


def _real(name: str) -> str:
    return (REAL / name).read_text()


XE9680_Q = parse_query(
    _real("nvidia_smi_q_8xH100_535.161.08_hw_power_brake_slowdown_active_pcie_replays.txt")
)
HEALTHY_Q = parse_query(_real("nvidia_smi_q_8xH100_535.183.01.txt"))
A10_Q = parse_query(
    _real("nvidia_smi_q_1xA10_535.129.03_remapped_rows_uncorrectable4_pending_yes.txt")
)
XE9680_BUSES = {g.bus_id: g.index for g in XE9680_Q}
LSPCI = parse_lspci(
    _real("lspci_vvv_dell_xe9680_gpu0_pex890xx_switch_h100_cx7_cx6dx_acs_off_16gts_downgraded.txt")
)


# ------------------------------------------------------------------------------------ XID


def test_xid_119_on_an_xe9680_fails_naming_gpu_4() -> None:
    events = parse_kernel_log(_real("dmesg_xid119_gsp_rpc_timeout_h100_dell_xe9680.txt"))
    found = xid.problems("n", events, XE9680_BUSES)
    assert found.failures == (
        "n GPU 4 (00000000:9B:00.0) XID: expected no critical XID in 24 h, got XID 119 ×5, last at "
        "2025-02-23T16:30:13 (Timeout after 6s of waiting for RPC response from GPU4 GSP! "
        "Expected function 103 (GSP_RM_ALLOC) (0x2081 0x4).)",
    )
    assert found.warnings == ()


def test_xids_48_63_94_each_fail_once_by_bus_id_without_nvidia_smi() -> None:
    events = parse_kernel_log(
        _real("dmesg_iso_xid48_dbe_xid63_row_remap_xid94_contained_peermem.txt")
    )
    found = xid.problems("n", events, {}, window_hours=2)
    assert [line.split(", got ")[1].split(" at ")[0] for line in found.failures] == [
        "XID 48",
        "XID 63",
        "XID 94 ×9, last",
    ]
    assert all(
        line.startswith("n GPU at 00000000:19:00.0 XID: expected no critical XID in 2 h")
        for line in found.failures
    )
    assert "(An uncorrectable double bit error (DBE) has been detected on" in found.failures[0]
    assert found.failures[2].endswith("(Contained: SM (0x1). RST: No, D-RST: No)")


def test_a_non_critical_xid_warns_and_the_critical_list_is_the_callers() -> None:
    events = parse_kernel_log(_real("dmesg_xid119_gsp_rpc_timeout_h100_dell_xe9680.txt"))
    found = xid.problems("n", events, XE9680_BUSES, critical={79})
    assert found.failures == ()
    assert found.warnings[0].startswith("n GPU 4 (00000000:9B:00.0) XID: expected no XID in 24 h")


# ------------------------------------------------------------------------------------ memory


@pytest.mark.parametrize(
    ("gpus", "failures"),
    [
        (HEALTHY_Q, []),
        (XE9680_Q, []),
        (
            A10_Q,
            [
                "n GPU 0 (00000000:07:00.0) row remapping: expected none pending (reset applies it),"
                " got pending"
            ],
        ),
    ],
    ids=["healthy-8xH100", "power-brake-8xH100", "a10-remap-pending"],
)
def test_memory_errors(gpus: list, failures: list[str]) -> None:
    assert [f for g in gpus for f in ecc.problems("n", g).failures] == failures


def test_uncorrectable_counters_are_one_line_per_gpu() -> None:
    gpu = HEALTHY_Q[3]
    assert gpu.ecc is not None
    broken = dataclasses.replace(
        gpu,
        ecc=dataclasses.replace(
            gpu.ecc, volatile_dram_uncorrectable=1, aggregate_dram_uncorrectable=1
        ),
        remapped_rows_failure=True,
    )
    assert ecc.problems("n", broken).failures == (
        f"n GPU 3 ({gpu.bus_id}) uncorrectable ECC errors: expected 0, got volatile DRAM 1, "
        "aggregate DRAM 1",
        f"n GPU 3 ({gpu.bus_id}) row remapping: expected no failure, got failure occurred",
    )


# ------------------------------------------------------------------------------------ clocks


def test_power_brake_warns_for_every_gpu_and_never_fails() -> None:
    found = sum((clocks.problems("n", g) for g in XE9680_Q), Findings())
    assert found.failures == ()
    assert len(found.warnings) == 8
    assert found.warnings[4] == (
        "n GPU 4 (00000000:9B:00.0) clock event reasons: expected no HW slowdown, thermal or "
        "power brake active, got HW Slowdown, HW Power Brake Slowdown"
    )
    # The 535.183.01 sample: seven GPUs Idle (no slowdown), GPU 2 under load with power brake
    # and SW thermal slowdown active.
    assert [bool(clocks.problems("n", g)) for g in HEALTHY_Q] == [i == 2 for i in range(8)]
    assert (
        clocks.problems("n", HEALTHY_Q[2])
        .warnings[0]
        .endswith("got HW Power Brake Slowdown, SW Thermal Slowdown")
    )


# ------------------------------------------------------------------------------------ NVLink


def test_inactive_nvlinks_fail_per_gpu() -> None:
    gpus = parse_nvlink_status(
        _real("nvidia_smi_nvlink_s_2xH100_pcie_nvlink_bridge_inactive_links.txt")
    )
    assert nvlink.problems("n", gpus).failures == tuple(
        f"n GPU {i} NVLink: expected 18 links active at 26.562 GB/s, got links 4, 5, 10, 11, 16, "
        "17 inactive"
        for i in (0, 1)
    )
    assert (
        nvlink.problems("n", gpus[:1], links_per_gpu=20)
        .failures[0]
        .endswith("got 18 links listed, links 4, 5, 10, 11, 16, 17 inactive")
    )


def test_nvml_error_instead_of_links_fails() -> None:
    gpus = parse_nvlink_status(
        _real("nvidia_smi_nvlink_s_2xA100_pcie_no_nvlink_all_links_inactive_nvml_error.txt")
    )
    assert nvlink.problems("n", gpus, links_per_gpu=12).failures[0] == (
        "n GPU 0 NVLink: expected 12 links active at 0 GB/s, got Unable to retrieve NVLink "
        "information as all links are inActive"
    )


# ------------------------------------------------------------------------------------ PCIe

GEN5_X16 = pcie.Link(5, 16)


@pytest.mark.parametrize(
    ("address", "want", "problem"),
    [
        ("19:00.0", GEN5_X16, None),  # the H100
        ("1a:00.0", GEN5_X16, None),  # its ConnectX-7
        (
            "17:03.0",
            pcie.Link(),
            "n port PCIe link: expected 32GT/s x16, got 16GT/s x16 (downgraded)",
        ),  # the switch port above the Gen4 ConnectX-6 Dx: lspci marks it downgraded
        ("1b:00.0", pcie.Link(), None),  # the ConnectX-6 Dx itself runs at its own LnkCap
        (
            "1b:00.0",
            GEN5_X16,
            "n port PCIe link: expected 32GT/s x16, got 16GT/s x16 (below the profile)",
        ),
        ("aa:00.0", GEN5_X16, "n port PCIe link: expected present, got absent from lspci"),
    ],
)
def test_link_against_lnkcap_and_profile(
    address: str, want: pcie.Link, problem: str | None
) -> None:
    assert pcie.link_problem("n", "port", find_device(LSPCI, address), want) == problem


def test_a_downgraded_gpu_link_is_named_by_device_and_bus_id() -> None:
    gpu = find_device(LSPCI, "19:00.0")
    assert gpu is not None and gpu.link_status is not None
    x8 = dataclasses.replace(
        gpu, link_status=dataclasses.replace(gpu.link_status, width=8, width_mark="downgraded")
    )
    assert pcie.link_problem("n", "GPU 0 (00000000:19:00.0)", x8, GEN5_X16) == (
        "n GPU 0 (00000000:19:00.0) PCIe link: expected 32GT/s x16, got 32GT/s x8 (downgraded)"
    )


def test_the_rail_hca_is_the_connectx_under_the_gpus_switch_and_acs_is_off() -> None:
    gpu = find_device(LSPCI, "19:00.0")
    assert gpu is not None
    hca = pcie.nearest_hca(LSPCI, gpu)
    assert hca is not None and hca.bus_id == "00000000:1A:00.0" and "ConnectX-7" in hca.name
    between = [b.bus_id for b in pcie.bridges_between(LSPCI, gpu, hca)]
    assert between == ["00000000:17:01.0", "00000000:17:02.0"]  # the two downstream ports
    assert pcie.acs_problem("n", "GPU 0 ↔ mlx5_0", LSPCI, gpu, hca) is None


def test_acs_redirect_on_the_gpus_port_fails() -> None:
    gpu, hca = find_device(LSPCI, "19:00.0"), find_device(LSPCI, "1a:00.0")
    assert gpu is not None and hca is not None
    port = find_device(LSPCI, "17:01.0")
    assert port is not None
    on = dataclasses.replace(
        port, acs_control={**port.acs_control, "ReqRedir": True, "CmpltRedir": True}
    )
    devices = [on if d is port else d for d in LSPCI]
    assert pcie.acs_problem("n", "GPU 0 ↔ mlx5_0", devices, gpu, hca) == (
        "n GPU 0 ↔ mlx5_0 ACS: expected ReqRedir- CmpltRedir- on the bridges between them, got "
        "ReqRedir+ CmpltRedir+ on 00000000:17:01.0"
    )


TOPO = parse_topology(_real("nvidia_smi_topo_mp_8xH100_12nic_dell_cx7_pcie_only.txt"))


@pytest.mark.parametrize(
    ("gpu", "hca", "problem"),
    [
        (0, "mlx5_0", None),
        (1, "mlx5_3", None),
        (1, "mlx5_0", "n GPU 1 ↔ mlx5_0 topology: expected PIX or PXB, got NODE"),
        (0, "mlx5_6", "n GPU 0 ↔ mlx5_6 topology: expected PIX or PXB, got SYS"),
        (
            0,
            "mlx5_99",
            "n GPU 0 ↔ mlx5_99 topology: expected NIC in nvidia-smi topo -m, got absent",
        ),
        (9, "mlx5_0", "n GPU 9 ↔ mlx5_0 topology: expected GPU in nvidia-smi topo -m, got absent"),
    ],
)
def test_rail_hca_topology(gpu: int, hca: str, problem: str | None) -> None:
    assert pcie.topology_problem("n", gpu, hca, TOPO) == problem


# ------------------------------------------------------------------------------------ IB counters

LINKDOWNED = parse_perfquery(
    _real("perfquery_x_switch_port_edr_linkdowned1_xmitdiscards20046_relayerr7.txt")
)[0]
CLEAN = parse_perfquery(_real("perfquery_x_switch_2ports_edr_zero_errors_xmitwait.txt"))[0]


def _grown(port: PortCounters, **growth: int) -> PortCounters:
    """`port`'s real reading with some counters grown (a constructed second reading)."""
    return dataclasses.replace(
        port, counters={k: v + growth.get(k, 0) for k, v in port.counters.items()}
    )


def test_old_errors_without_growth_pass() -> None:
    # LinkDowned 1 and 20046 discards are history: the same reading twice grew nothing.
    assert not ib_counters.problems("n", "mlx5_0", LINKDOWNED, LINKDOWNED, 30)


@pytest.mark.parametrize(
    ("growth", "limits", "failures", "warnings"),
    [
        (
            {"SymbolErrorCounter": 120, "LinkErrorRecoveryCounter": 1},
            ib_counters.Limits(),
            [
                "n mlx5_0 port 1 SymbolErrorCounter: expected growth <= 0 in 30 s, got +120",
                "n mlx5_0 port 1 LinkErrorRecoveryCounter: expected growth <= 0 in 30 s, got +1",
            ],
            [],
        ),
        (
            {"SymbolErrorCounter": 120},
            ib_counters.Limits(symbol_error_growth=500),
            [],
            [],
        ),
        (
            {"LinkDownedCounter": 2},
            ib_counters.Limits(),
            ["n mlx5_0 port 1 link flaps (LinkDownedCounter): expected <= 0 in 30 s, got +2"],
            [],
        ),
        (
            {"PortXmitDiscards": 5},
            ib_counters.Limits(),
            [],
            ["n mlx5_0 port 1 PortXmitDiscards: expected no growth in 30 s, got +5"],
        ),
    ],
)
def test_growth(growth: dict, limits: ib_counters.Limits, failures: list, warnings: list) -> None:
    found = ib_counters.problems("n", "mlx5_0", CLEAN, _grown(CLEAN, **growth), 30, limits)
    assert list(found.failures) == failures and list(found.warnings) == warnings


def test_a_counter_that_went_down_warns() -> None:
    found = ib_counters.problems("n", "mlx5_0", LINKDOWNED, CLEAN, 30)
    assert found.failures == ()
    assert found.warnings == (
        "n mlx5_0 port 1 LinkDownedCounter: expected not reset during the checks, got went down",
        "n mlx5_0 port 1 PortRcvSwitchRelayErrors: expected not reset during the checks, got "
        "went down",
        "n mlx5_0 port 1 PortXmitDiscards: expected not reset during the checks, got went down",
    )


# ------------------------------------------------------------------------------------ BER
# No real mlxlink output exists in the fixture set: the readings are constructed values.


@pytest.mark.parametrize(
    ("effective", "failures", "warnings"),
    [
        (1e-12, [], []),
        (15e-255, [], []),  # what mlxlink prints when no error was counted
        (5e-12, [], ["n mlx5_0 effective BER: expected < 5e-12, got 5e-12"]),
        (1e-11, ["n mlx5_0 effective BER: expected < 1e-11, got 1e-11"], []),
        (None, ["n mlx5_0 effective BER: expected a reading, got none in mlxlink's output"], []),
    ],
)
def test_ber(effective: float | None, failures: list, warnings: list) -> None:
    found = ber.problems("n", "mlx5_0", MlxlinkInfo(effective_ber=effective))
    assert list(found.failures) == failures and list(found.warnings) == warnings


# ------------------------------------------------------------------------------------ DCGM


def test_dcgm_r3_memory_fail_on_every_gpu_with_dcgms_message() -> None:
    rows = parse_dcgmi_diag(_real("dcgmi_diag_r3_fail_cuinit_8xH100.txt"))
    assert dcgm.ran(rows)
    found = dcgm.problems("n", 3, rows)
    assert len(found.failures) == 8 and found.warnings == ()
    assert found.failures[3] == (
        "n GPU 3 dcgmi diag -r 3 GPU Memory: expected Pass, got Fail (GPU 3 Error using CUDA API "
        "cuInit Check DCGM and system logs for errors. Reset GPU. Restart DCGM. Rerun "
        "diagnostics. Unable to initialize CUDA library: 'system not yet initialized'. . Please "
        "check if a CUDA sample program can be run successfully on this host. Refer to "
        "https://github.com/nvidia/cuda-samples)"
    )


def test_dcgm_r2_pass_and_no_table() -> None:
    rows = parse_dcgmi_diag(
        _real("dcgmi_diag_r2_pass_8xA100_p4de_dcgm3.3.3_empty_stress_section.txt")
    )
    assert dcgm.ran(rows) and not dcgm.problems("n", 2, rows)
    assert not dcgm.ran(parse_dcgmi_diag("Error: unable to establish a connection to the host.\n"))


# ------------------------------------------------------------------------------------ nvbandwidth


def _nvbandwidth(*names: str) -> NvbandwidthRun:
    """The README's real blocks as one run (each file holds one testcase)."""
    runs = [parse_nvbandwidth(_real(name)) for name in names]
    return NvbandwidthRun(testcases=tuple(t for run in runs for t in run.testcases))


H2D_26 = "nvbandwidth_readme_v0.8_host_to_device_memcpy_ce_8gpu_26gbs.txt"
D2D_276 = "nvbandwidth_readme_v0.8_device_to_device_memcpy_write_ce_8gpu_276gbs.txt"


def test_nvbandwidth_readme_blocks_fall_below_the_h100_bars() -> None:
    """The README's machine copies host to device at about 26 GB/s (Gen4-class) and device to
    device at about 276 GB/s: under Azure's H100 bars on every GPU and every pair."""
    found = nvbandwidth.problems("n", _nvbandwidth(H2D_26, D2D_276))
    assert found.failures == (
        "n nvbandwidth host_to_device_memcpy_ce: expected >= 48 GB/s per GPU, got 8 of 8 below, "
        "slowest GPU 1 25.94",
        "n nvbandwidth device_to_device_memcpy_read_ce: expected a result, got not in "
        "nvbandwidth's output",
        "n nvbandwidth device_to_device_memcpy_write_ce: expected >= 335 GB/s per GPU pair, got "
        "56 of 56 below, slowest GPU 6→0 274.89",
    )


def test_nvbandwidth_bars_are_the_callers() -> None:
    bars = nvbandwidth.Bars(h2d_gbps=26, d2d_gbps=276.1)
    found = nvbandwidth.problems("n", _nvbandwidth(H2D_26, D2D_276), bars)
    assert found.failures[0] == (
        "n nvbandwidth host_to_device_memcpy_ce: expected >= 26 GB/s per GPU, got GPU 1 25.94, "
        "GPU 2 25.97, GPU 5 25.95, GPU 7 25.97"
    )
    assert found.failures[2] == (
        "n nvbandwidth device_to_device_memcpy_write_ce: expected >= 276.1 GB/s per GPU pair, got "
        "GPU 0→1 276.07, GPU 4→0 276.03, GPU 6→0 274.89, GPU 7→4 276"
    )
