"""trainbed's parsers read the simulators' output as they read the real fixtures: same structure,
same units. (The simulators' own layout tests are in test_mock_simulators.py.)"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from lab import hardware
from lab.tests.test_mock_simulators import REAL, env, fabric_running, pair, register_sms, sim
from trainbed.parse.ibnetdiscover import parse_ibnetdiscover_ports
from trainbed.parse.ibstat import parse_ibstat
from trainbed.parse.ibv_devinfo import parse_ibv_devinfo
from trainbed.parse.nccl import parse_nccl
from trainbed.parse.nvidia_smi import parse_csv_query, parse_query, parse_table
from trainbed.parse.perftest import parse_ib_write_bw
from trainbed.parse.perftest_lat import parse_ib_write_lat

__all__ = ["env"]  # the fixture, re-exported for pytest

IBNETDISCOVER = "ibnetdiscover_p_edr_fabric_selected_lines_unconnected_ports.txt"


def _filled(record: Any) -> set[str]:
    return {
        f.name for f in dataclasses.fields(record) if getattr(record, f.name) not in (None, (), {})
    }


def test_nvidia_smi_q_parses_like_the_real_one(env: dict[str, str]) -> None:
    fabric_running(env)
    mine = parse_query(sim(env, "nvidia_smi", "-q").stdout)
    real = parse_query((REAL / "nvidia_smi_q_8xH100_535.183.01.txt").read_text())
    assert len(mine) == len(real) == 8
    assert _filled(real[0]) <= _filled(mine[0]), _filled(real[0]) - _filled(mine[0])
    assert mine[0].bus_id == "00000000:19:00.0" and mine[0].product_name == real[0].product_name
    assert mine[0].memory_total_mib == real[0].memory_total_mib


def test_nvidia_smi_table_and_csv(env: dict[str, str]) -> None:
    table = parse_table(sim(env, "nvidia_smi").stdout)
    real = parse_table((REAL / "nvidia_smi_table_8xH100_550.90.07.txt").read_text())
    assert [g.bus_id for g in table.gpus] == [g.bus_id for g in real.gpus]
    fields = ["index", "name", "pci.bus_id", "persistence_mode", "memory.total", "driver_version"]
    out = sim(
        env,
        "nvidia_smi",
        f"--query-gpu={','.join(fields)}",
        "--format=csv,noheader,nounits",
    ).stdout
    rows = parse_csv_query(out, fields)
    assert len(rows) == 8 and rows[0]["name"] == "NVIDIA H100 80GB HBM3"
    assert rows[0]["memory.total"] == 81559


def test_ibstat_and_ibv_devinfo_parse_like_the_real_ones(env: dict[str, str]) -> None:
    register_sms(env)
    mine = parse_ibstat(sim(env, "ibdiags", prog="ibstat").stdout)
    real = [
        ca
        for ca in parse_ibstat((REAL / "ibstat_h100_node_8x_cx7_ndr400_all_active.txt").read_text())
        if ca.ca_type == "MT4129"
    ]
    assert len(mine) == 8 and {ca.ca_type for ca in mine} == {"MT4129"}
    assert {(p.state, p.physical_state, p.rate, p.link_layer) for ca in mine for p in ca.ports} == {
        (p.state, p.physical_state, p.rate, p.link_layer) for ca in real for p in ca.ports
    }
    devices = parse_ibv_devinfo(sim(env, "ibverbs", prog="ibv_devinfo").stdout)
    real_devices = parse_ibv_devinfo(
        (REAL / "ibv_devinfo_dell_cx7_DEL_psid_8x_ib_active.txt").read_text()
    )
    assert [d.hca_id for d in devices] == [d.hca_id for d in real_devices]
    assert {d.board_id for d in devices} == {d.board_id for d in real_devices}


def test_all_reduce_perf_parses_like_the_real_one(env: dict[str, str]) -> None:
    fabric_running(env)
    out = sim(
        env, "nccl_tests", "-b", "8", "-e", "8G", "-f", "2", "-g", "8", prog="all_reduce_perf"
    ).stdout
    (mine,) = parse_nccl(out)["runs"]
    real = parse_nccl(
        (
            REAL / "nccl_allreduce_single_node_8xH100_v2.17.9_peak369_no_nvls_together.txt"
        ).read_text()
    )["runs"][0]
    assert mine["ok"] and real["ok"]
    assert mine["ranks"] == real["ranks"] == 8 and mine["version"] == real["version"]
    assert [r["size_bytes"] for r in mine["rows"]] == [r["size_bytes"] for r in real["rows"]]
    assert set(mine["rows"][0]) == set(real["rows"][0])
    peak = mine["peak_busbw_gbs"]
    assert peak is not None and 465 < peak < 495 and mine["wrong_total"] == 0


def test_ib_write_bw_parses_in_gbps(env: dict[str, str]) -> None:
    register_sms(env)
    client, _, server_out, _ = pair(env, "-d", "mlx5_0", "--report_gbits")
    (run,) = parse_ib_write_bw(client.stdout)["runs"]
    assert run["ok"] and run["side"] == "client" and run["device"] == "mlx5_0"
    gbps = run["bw_avg_gbps"]
    assert gbps is not None and 388 < gbps < 396
    (srv,) = parse_ib_write_bw(server_out)["runs"]
    server_gbps = srv["bw_avg_gbps"]
    assert srv["side"] == "server" and server_gbps is not None and abs(server_gbps - gbps) < 1
    # Default units are MB/sec (2^20 B/s): the parser converts to the same Gb/s.
    client_mb, _, _, _ = pair(env, "-d", "mlx5_0")
    (mb,) = parse_ib_write_bw(client_mb.stdout)["runs"]
    mb_gbps = mb["bw_avg_gbps"]
    assert mb_gbps is not None and abs(mb_gbps - gbps) < 6


def test_ib_write_lat_parses_like_the_real_one(env: dict[str, str]) -> None:
    register_sms(env)
    client, _, server_out, _ = pair(env, "-d", "mlx5_0", prog="ib_write_lat")
    (run,) = parse_ib_write_lat(client.stdout)["runs"]
    real_text = REAL / "perftest_ib_write_lat_client_rdma_cm_dgx_spark_cx7_2b_p99_1.57.txt"
    (real,) = parse_ib_write_lat(real_text.read_text())["runs"]
    assert run["ok"] and run["side"] == "client" and run["device"] == "mlx5_0"
    assert (run["test"], run["unit"], run["bytes"]) == (real["test"], real["unit"], real["bytes"])
    assert all(value is not None for value in run["rows"][0].values())
    assert set(run["rows"][0]) == set(real["rows"][0])
    p99 = run["p99_us"]
    assert p99 is not None and 1.0 < p99 < 1.3
    (srv,) = parse_ib_write_lat(server_out)["runs"]
    assert srv["ok"] and srv["side"] == "server"


def test_ibnetdiscover_parses_like_the_real_one(env: dict[str, str]) -> None:
    register_sms(env)
    hw = json.loads(Path(env["TRAINBED_SIM_HARDWARE"]).read_text())
    cabling = Path(env["TRAINBED_SIM_FABRIC"]) / "cabling"
    cabling.mkdir(parents=True)
    (cabling / "gpu01.json").write_text(json.dumps(hardware.cabling(hw)))
    out = sim(env, "ibdiags", "-p", "-C", "mlx5_4", "-P", "1", prog="ibnetdiscover").stdout
    mine = parse_ibnetdiscover_ports(out)
    real = [p for p in parse_ibnetdiscover_ports((REAL / IBNETDISCOVER).read_text()) if p.connected]
    assert len(mine) == 2 and {p.node_type for p in mine} == {"CA", "SW"}
    assert _filled(mine[0]) == _filled(real[0])
    assert mine[0].width == real[0].width == "4x" and mine[0].speed == "NDR"
