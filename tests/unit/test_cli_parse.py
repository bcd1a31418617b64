"""`trainbed parse KIND`: exit codes, JSON shape, summaries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from trainbed.cli import main
from trainbed.cli.parse_hardware import KINDS

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"
GOOD_NCCL = FIXTURES / "nccl_allreduce_2node_dell_xe9680_8xH100_8xCX7_ndr_mpi_noise.txt"
BAD_NCCL = FIXTURES / "nccl_allreduce_v2.17.8_wrong_nonzero_oob_failed_gh200.txt"
INTERLEAVED = (
    FIXTURES
    / "nccl_allreduce_srun_2tasks_nonmpi_interleaved_2x_single_node_8xH100_nvls479_together.txt"
)
GOOD_IB = FIXTURES / "perftest_ib_write_bw_client_gbits_roce100g_cpufreq_warning.txt"
BAD_IB = FIXTURES / "perftest_ib_write_bw_client_connect_refused_pr228.txt"


def invoke(*args: str, stdin: str | None = None):
    return CliRunner().invoke(main, ["parse", *args], input=stdin)


def test_nccl_json_ok() -> None:
    result = invoke("nccl", str(GOOD_NCCL), "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    (run,) = data["runs"]
    assert run["ok"] is True
    assert run["peak_busbw_gbs"] == 469.21
    assert set(run["rows"][0]) >= {"size_bytes", "count", "type", "redop", "root"}
    assert set(run["rows"][0]["in_place"]) >= {"time_us", "algbw_gbs", "busbw_gbs", "wrong"}


def test_nccl_failure_exits_1_with_summary() -> None:
    result = invoke("nccl", str(BAD_NCCL))
    assert result.exit_code == 1
    assert "FAILED" in result.output
    assert "out of bounds values: 4 FAILED" in result.output


def test_nccl_summary_one_line_per_run() -> None:
    result = invoke("nccl", str(INTERLEAVED))
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert "peak busbw 479.27 GB/s" in lines[0]
    assert "peak busbw 479.19 GB/s" in lines[1]


def test_ib_write_bw_from_stdin() -> None:
    result = invoke("ib-write-bw", "-", "--json", stdin=GOOD_IB.read_text())
    assert result.exit_code == 0
    assert json.loads(result.output)["runs"][0]["bw_avg_gbps"] == 92.40


def test_ib_write_bw_failure_exits_1() -> None:
    result = invoke("ib-write-bw", str(BAD_IB))
    assert result.exit_code == 1
    assert "Couldn't connect to 192.168.125.211:18515" in result.output


def test_unreadable_file_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    result = invoke("nccl", str(missing))
    assert result.exit_code == 2
    assert str(missing) in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_directory_exits_2(tmp_path: Path) -> None:
    result = invoke("ib-write-bw", str(tmp_path))
    assert result.exit_code == 2
    assert str(tmp_path) in result.output


def test_binary_file_exits_2_without_echoing_it() -> None:
    result = invoke("ib-write-bw", "/bin/ls")
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("trainbed parse: /bin/ls is not benchmark output: binary data")
    assert not any(ch < " " for ch in line)


def test_escape_bytes_in_text_are_printed_escaped() -> None:
    text = BAD_IB.read_text().replace("Couldn't connect", "\x1b[2JCouldn't connect", 1)
    result = invoke("ib-write-bw", "-", stdin=text)
    assert result.exit_code == 1
    assert "\x1b" not in result.output
    assert "\\x1b[2JCouldn't connect to 192.168.125.211:18515" in result.output


# --------------------------------------------------------------------------- hardware kinds

HARDWARE = [
    # kind, real file, JSON key, what a careful reader gets from it
    (
        "dmesg",
        "dmesg_xid119_gsp_rpc_timeout_h100_dell_xe9680.txt",
        "events",
        lambda records: {(r["code"], r["bus_id"]) for r in records} == {(119, "00000000:9B:00.0")},
    ),
    (
        "nvidia-smi-q",
        "nvidia_smi_q_1xA10_535.129.03_remapped_rows_uncorrectable4_pending_yes.txt",
        "gpus",
        lambda records: (
            [(r["bus_id"], r["remapped_rows_pending"]) for r in records]
            == [("00000000:07:00.0", True)]
        ),
    ),
    (
        "nvlink",
        "nvidia_smi_nvlink_s_2xH100_pcie_nvlink_bridge_inactive_links.txt",
        "gpus",
        lambda records: [sum(not link["active"] for link in r["links"]) for r in records] == [6, 6],
    ),
    (
        "lspci",
        "lspci_vvv_dell_xe9680_gpu0_pex890xx_switch_h100_cx7_cx6dx_acs_off_16gts_downgraded.txt",
        "devices",
        lambda records: (
            [r["address"] for r in records if r["link_status"]["speed_mark"] == "downgraded"]
            == ["17:00.0", "17:03.0"]
        ),
    ),
    (
        "perfquery",
        "perfquery_x_switch_port_edr_linkdowned1_xmitdiscards20046_relayerr7.txt",
        "ports",
        lambda records: records[0]["counters"]["LinkDownedCounter"] == 1,
    ),
    (
        "ibnetdiscover",
        "ibnetdiscover_p_edr_fabric_selected_lines_unconnected_ports.txt",
        "ports",
        lambda records: (
            [(r["lid"], r["port"]) for r in records if r["peer_guid"] is None]
            == [(2052, 37), (1781, 80)]
        ),
    ),
    (
        "dcgmi-diag",
        "dcgmi_diag_r3_fail_cuinit_8xH100.txt",
        "per_gpu",
        lambda records: [r["gpu"] for r in records if r["status"] == "Fail"] == list(range(8)),
    ),
    (
        "fio",
        "fio_json_3.39_randread_1m_librbd_ceph_qd1_1job.txt",
        "jobs",
        lambda records: (
            [(r["read"]["bw_bytes"], r["write"]["done"]) for r in records] == [(364985746, False)]
        ),
    ),
]


@pytest.mark.parametrize(("kind", "name", "key", "check"), HARDWARE, ids=[h[0] for h in HARDWARE])
def test_hardware_kind_json(kind: str, name: str, key: str, check: Any) -> None:
    result = invoke(kind, str(FIXTURES / name), "--json")
    assert result.exit_code == 0, result.output
    assert check(json.loads(result.output)[key])


@pytest.mark.parametrize(
    ("kind", "name", "line"),
    [
        ("dmesg", "dmesg_iso_xid48_dbe_xid63_row_remap_xid94_contained_peermem.txt",
         "line 12: XID 63 on 00000000:19:00.0: Row Remapper: New row"),
        ("nvidia-smi-q", "nvidia_smi_q_8xH100_535.161.08_hw_power_brake_slowdown_active_pcie_replays.txt",
         "clock events: HW Slowdown, HW Power Brake Slowdown"),
        ("nvlink", "nvidia_smi_nvlink_s_2xH100_pcie_nvlink_bridge_inactive_links.txt",
         "GPU 0 NVIDIA H100 PCIe: 12/18 links active at 26.562 GB/s, inactive: 4, 5, 10, 11, 16, 17"),
        ("lspci", "lspci_vvv_dell_xe9680_gpu0_pex890xx_switch_h100_cx7_cx6dx_acs_off_16gts_downgraded.txt",
         "link 16GT/s x16 (capable 32GT/s x16) DOWNGRADED"),
        ("perfquery", "perfquery_x_switch_port_edr_linkdowned1_xmitdiscards20046_relayerr7.txt",
         "lid 2052 port 1: LinkDownedCounter 1, PortRcvSwitchRelayErrors 7, PortXmitDiscards 20046"),
        ("dcgmi-diag", "dcgmi_diag_r3_fail_cuinit_8xH100.txt", "GPU Memory (Hardware): Fail - All"),
        ("fio", "fio_json_3.16_randrw_4k_nvme_libaio_qd64_4jobs_group_reporting.txt",
         "job 'rand_read_write'  read 348.7 MB/s (10463.0 MB in 30.002 s, 85139 IOPS)  write 348.5 MB/s"),
    ],
)  # fmt: skip
def test_hardware_kind_summary(kind: str, name: str, line: str) -> None:
    result = invoke(kind, str(FIXTURES / name))
    assert result.exit_code == 0
    assert line in result.output


def test_mlxlink_from_stdin_constructed() -> None:
    constructed = "Effective Physical BER             : 5E-12\nRaw Physical BER : 1E-8\n"
    result = invoke("mlxlink", "-", "--json", stdin=constructed)
    assert result.exit_code == 0
    (port,) = json.loads(result.output)["ports"]
    assert (port["effective_ber"], port["raw_ber"]) == (5e-12, 1e-8)


@pytest.mark.parametrize("kind", [h[0] for h in HARDWARE] + ["mlxlink"])
def test_hardware_kind_wrong_file_exits_1(kind: str) -> None:
    result = invoke(kind, str(GOOD_NCCL))
    assert result.exit_code == 1
    assert f"no {kind} output found" in result.output
    assert "Traceback" not in result.output


def test_hardware_kind_binary_exits_2(tmp_path: Path) -> None:
    binary = tmp_path / "core"
    binary.write_bytes(b"\x7fELF\x00\x01\x02")
    result = invoke("lspci", str(binary))
    assert result.exit_code == 2
    assert "NUL byte" in result.output


@settings(max_examples=15, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_hardware_summaries_never_raise_on_mangled_fixtures(kind: str, data: Any) -> None:
    name = data.draw(st.sampled_from(sorted(p.name for p in FIXTURES.glob("*.txt"))))
    lines = (FIXTURES / name).read_text().splitlines(keepends=True)
    kept = data.draw(st.lists(st.sampled_from(lines), max_size=60)) if lines else []
    result = invoke(kind, "-", stdin="".join(kept))
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


GOOD_LAT = FIXTURES / "perftest_ib_write_lat_client_rdma_cm_dgx_spark_cx7_2b_p99_1.57.txt"


def test_ib_write_lat_json_and_summary() -> None:
    result = invoke("ib-write-lat", str(GOOD_LAT), "--json")
    assert result.exit_code == 0
    (run,) = json.loads(result.output)["runs"]
    assert (run["typical_us"], run["p99_us"], run["p999_us"]) == (1.47, 1.57, 1.93)
    summary = invoke("ib-write-lat", str(GOOD_LAT))
    assert summary.exit_code == 0
    assert "typical 1.47 us  p99 1.57 us  p99.9 1.93 us" in summary.output


def test_ib_write_lat_failure_exits_1() -> None:
    result = invoke("ib-write-lat", str(BAD_IB))
    assert result.exit_code == 1
    assert "FAILED" in result.output and "Couldn't connect" in result.output
