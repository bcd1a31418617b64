"""The hardware-health outputs of the simulators read with the parsers of the real formats: the
same structure as the real fixtures when healthy, and each fault seen where the checks look."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from lab import fault, hardware
from lab.tests.test_mock_simulators import REAL, edit, env, fabric_running, register_sms, sim
from trainbed.parse.dcgmi import parse_dcgmi_diag, per_gpu_results
from trainbed.parse.dmesg import parse_kernel_log
from trainbed.parse.lspci import parse_lspci, pci_path
from trainbed.parse.nvbandwidth import parse_nvbandwidth
from trainbed.parse.nvidia_smi import parse_query
from trainbed.parse.nvlink import parse_nvlink_status
from trainbed.parse.perfquery import counter_delta, parse_perfquery

__all__ = ["env"]  # the fixture, re-exported for pytest

LSPCI = "lspci_vvv_dell_xe9680_gpu0_pex890xx_switch_h100_cx7_cx6dx_acs_off_16gts_downgraded.txt"


def _fault(env: dict[str, str], words: str) -> None:
    edit(env, lambda hw: fault.apply(hw, words.split()))


def _hw(env: dict[str, str]) -> dict[str, Any]:
    return json.loads(Path(env["TRAINBED_SIM_HARDWARE"]).read_text())


# ------------------------------------------------------------------ nvidia-smi -q, nvlink -s


def test_nvidia_smi_q_health_fields_like_the_real_ones(env: dict[str, str]) -> None:
    fabric_running(env)
    mine = parse_query(sim(env, "nvidia_smi", "-q").stdout)
    real = parse_query((REAL / "nvidia_smi_q_8xH100_535.183.01.txt").read_text())
    for m, r in zip(mine, real, strict=True):
        assert m.ecc == r.ecc and list(m.clock_event_reasons) == list(r.clock_event_reasons)
        assert not {"HW Slowdown", "HW Power Brake Slowdown"} & set(m.active_clock_event_reasons)
        assert (m.pcie_gen_current, m.pcie_gen_max, m.pcie_width_current, m.pcie_width_max) == (
            r.pcie_gen_current,
            r.pcie_gen_max,
            r.pcie_width_current,
            r.pcie_width_max,
        )
        assert (m.remapped_rows_pending, m.remapped_rows_failure) == (False, False)
        assert m.retired_pages_pending == r.retired_pages_pending and m.vbios_version
    assert {m.vbios_version for m in mine} == {r.vbios_version for r in real}


def test_nvidia_smi_q_shows_each_gpu_fault_on_that_gpu_only(env: dict[str, str]) -> None:
    fabric_running(env)
    for words in (
        "gpu 3 remap pending",
        "gpu 2 ecc uncorrectable",
        "gpu 5 pcie x8",
        "gpu 6 pcie gen4",
        "gpu 0 clocks power-brake",
    ):
        _fault(env, words)
    gpus = parse_query(sim(env, "nvidia_smi", "-q").stdout)
    assert [g.index for g in gpus if g.remapped_rows_pending] == [3]
    assert [g.index for g in gpus if g.ecc and g.ecc.volatile_dram_uncorrectable] == [2]
    assert [g.index for g in gpus if g.ecc and g.ecc.aggregate_dram_uncorrectable] == [2]
    assert [(g.index, g.pcie_width_current) for g in gpus if g.pcie_width_current != 16] == [(5, 8)]
    assert [(g.index, g.pcie_gen_current) for g in gpus if g.pcie_gen_current != 5] == [(6, 4)]
    # the real power-brake sample marks the same two reasons
    real = parse_query(
        (
            REAL / "nvidia_smi_q_8xH100_535.161.08_hw_power_brake_slowdown_active_pcie_replays.txt"
        ).read_text()
    )[0]
    brake = {"HW Slowdown", "HW Power Brake Slowdown"}
    assert brake <= set(real.active_clock_event_reasons)
    assert brake <= set(gpus[0].active_clock_event_reasons)
    assert [g.index for g in gpus if "HW Slowdown" in g.active_clock_event_reasons] == [0]


def test_nvlink_s_like_the_real_one(env: dict[str, str]) -> None:
    real = parse_nvlink_status(
        (REAL / "nvidia_smi_nvlink_s_2xH100_pcie_nvlink_bridge_inactive_links.txt").read_text()
    )
    healthy = parse_nvlink_status(sim(env, "nvidia_smi", "nvlink", "-s").stdout)
    assert len(healthy) == 8 and all(len(g.links) == 18 for g in healthy)
    assert {link.speed_gbs for g in healthy for link in g.links} == {
        link.speed_gbs for g in real for link in g.links if link.active
    }
    assert all(g.inactive_links == () for g in healthy)
    _fault(env, "gpu 1 nvlink 7 down")
    down = parse_nvlink_status(sim(env, "nvidia_smi", "nvlink", "-s").stdout)
    assert [(g.index, g.inactive_links) for g in down if g.inactive_links] == [(1, (7,))]
    assert {link.state for g in down for link in g.links if link.active is False} == {
        link.state for g in real for link in g.links if link.active is False
    }


# ----------------------------------------------------------------------------------- lspci


def _fields(record: Any) -> set[str]:
    return {
        f.name for f in dataclasses.fields(record) if getattr(record, f.name) not in (None, (), {})
    }


def test_lspci_tree_like_the_real_xe9680(env: dict[str, str]) -> None:
    mine = parse_lspci(sim(env, "lspci", "-vvv").stdout)
    real = parse_lspci((REAL / LSPCI).read_text())
    hw = _hw(env)
    assert len(mine) == 8 * 6  # root port, switch up, 2 downstream ports, GPU, HCA per GPU
    real_gpu, my_gpu = pci_path(real, "19:00.0"), pci_path(mine, "19:00.0")
    assert real_gpu is not None and my_gpu is not None
    assert [b.address for b in my_gpu.bridges] == [b.address for b in real_gpu.bridges]
    assert [b.express_type for b in my_gpu.bridges] == [b.express_type for b in real_gpu.bridges]
    for m, r in zip(
        (my_gpu.device, *my_gpu.bridges), (real_gpu.device, *real_gpu.bridges), strict=True
    ):
        assert _fields(m) == _fields(r) and m.name == r.name
        assert m.link_cap == r.link_cap and m.link_status == r.link_status
        assert m.acs_control == r.acs_control
    assert my_gpu.downgraded == my_gpu.acs_redirect == ()
    for gpu in hw["gpus"]:
        path = pci_path(mine, gpu["bus_id"])
        assert path is not None and path.device.driver == "nvidia" and len(path.bridges) == 3
    for hca in hw["hcas"]:
        path = pci_path(mine, hca["pcie"]["bus_id"])
        gpu = pci_path(mine, hw["gpus"][hca["nearest_gpu"]]["bus_id"])
        assert path is not None and gpu is not None and path.device.driver == "mlx5_core"
        assert path.bridges[1:] == gpu.bridges[1:]  # the same switch and root port
        assert path.device.name == "Mellanox Technologies MT2910 Family [ConnectX-7]"


def test_lspci_shows_downgraded_links_and_acs(env: dict[str, str]) -> None:
    for words in ("gpu 5 pcie x8", "hca mlx5_4 pcie gen4", "gpu 2 acs on"):
        _fault(env, words)
    devices = parse_lspci(sim(env, "lspci", "-vvv").stdout)
    hw = _hw(env)
    paths = {g["index"]: pci_path(devices, g["bus_id"]) for g in hw["gpus"]}
    hcas = {h["device"]: pci_path(devices, h["pcie"]["bus_id"]) for h in hw["hcas"]}
    bad = {i: [d.address for d in p.downgraded] for i, p in paths.items() if p and p.downgraded}
    assert bad == {5: ["bb:00.0", "b9:01.0"]}
    assert paths[5] is not None and paths[5].device.link_status is not None
    assert (
        paths[5].device.link_status.width == 8
        and paths[5].device.link_status.width_mark == "downgraded"
    )
    bad_hcas = {d: [x.address for x in p.downgraded] for d, p in hcas.items() if p and p.downgraded}
    assert bad_hcas == {"mlx5_4": ["4d:00.0", "4a:02.0"]}
    acs = {i: [b.address for b in p.acs_redirect] for i, p in paths.items() if p and p.acs_redirect}
    assert acs == {2: ["4a:01.0"]}
    # the real sample marks a 16 GT/s link under a 32 GT/s cap the same way
    real = parse_lspci((REAL / LSPCI).read_text())
    port = next(d for d in real if d.address == "17:03.0")
    assert port.link_status is not None and port.link_status.speed_mark == "downgraded"


def test_lspci_capabilities_need_root(env: dict[str, str]) -> None:
    import os

    out = sim(env, "lspci", "-vvv").stdout
    if os.geteuid() == 0:
        assert "LnkSta:" in out
    else:
        assert "Capabilities: <access denied>" in out and "LnkSta:" not in out
    assert sim(env, "lspci", "-s", "19:00.0").stdout.startswith("19:00.0 3D controller")


# ------------------------------------------------------------------------------- perfquery


def test_perfquery_like_the_real_one_and_growing(env: dict[str, str]) -> None:
    register_sms(env)
    real = parse_perfquery(
        (REAL / "perfquery_x_switch_2ports_edr_zero_errors_xmitwait.txt").read_text()
    )[0]
    (first,) = parse_perfquery(
        sim(env, "ibdiags", "-x", "-C", "mlx5_4", "-P", "1", prog="perfquery").stdout
    )
    assert list(first.counters) == list(real.counters) and first.port == 1
    assert first.capability_mask == real.capability_mask and set(first.errors.values()) == {0}
    _fault(env, "hca mlx5_4 symbol-errors")
    _fault(env, "hca mlx5_5 flap")
    edit(
        env,
        lambda hw: [
            h["growth"].update(since=h["growth"]["since"] - 30) for h in hw["hcas"] if "growth" in h
        ],
    )
    reads = []
    for _ in range(2):
        reads.append(
            {
                ca: parse_perfquery(
                    sim(env, "ibdiags", "-x", "-C", ca, "-P", "1", prog="perfquery").stdout
                )[0]
                for ca in ("mlx5_0", "mlx5_4", "mlx5_5")
            }
        )
        time.sleep(2.1)
    grew = {
        ca: {
            n: d
            for n, d in counter_delta(reads[0][ca], reads[1][ca]).items()
            if d and n in reads[0][ca].errors
        }
        for ca in reads[0]
    }
    assert grew["mlx5_0"] == {}
    assert set(grew["mlx5_4"]) == {"SymbolErrorCounter", "LinkErrorRecoveryCounter"}
    assert set(grew["mlx5_5"]) == {"LinkDownedCounter"}
    assert reads[0]["mlx5_4"].counters["SymbolErrorCounter"] >= 1500


def test_perfquery_fails_without_a_subnet_manager(env: dict[str, str]) -> None:
    out = sim(env, "ibdiags", "-x", "-C", "mlx5_0", "-P", "1", prog="perfquery")
    assert out.returncode == 255 and out.stdout == "" and "iberror" in out.stderr


# ------------------------------------------------------------------------------ dcgmi diag


def _engine(env: dict[str, str]) -> dict[str, str]:
    pid = Path(env["TRAINBED_SIM_RUN"]) / "hostengine.pid"
    pid.parent.mkdir(parents=True, exist_ok=True)
    import os

    pid.write_text(f"{os.getpid()}\n")
    return {**env, "TRAINBED_SIM_HOSTENGINE_PID": str(pid)}


def test_dcgmi_diag_levels_like_the_real_ones(env: dict[str, str]) -> None:
    fabric_running(env)
    e = _engine(env)
    real2 = parse_dcgmi_diag(
        (REAL / "dcgmi_diag_r2_pass_8xA100_p4de_dcgm3.3.3_empty_stress_section.txt").read_text()
    )
    real3 = parse_dcgmi_diag((REAL / "dcgmi_diag_r3_fail_cuinit_8xH100.txt").read_text())
    rows = {
        level: parse_dcgmi_diag(sim(e, "dcgmi", "diag", "-r", str(level)).stdout)
        for level in (1, 2, 3)
    }
    names = {level: [(r.section, r.name) for r in rs] for level, rs in rows.items()}
    assert names[2] == [(r.section, r.name) for r in real2]
    assert names[1] == [(s, n) for s, n in names[2] if s in ("Metadata", "Deployment")]
    assert names[3] == [(r.section, r.name) for r in real3 if r.name != "Info"] or names[3] == [
        (r.section, r.name) for r in real3
    ]
    for level in (2, 3):
        per_gpu = per_gpu_results(rows[level])
        assert {r.status for r in per_gpu if r.test != "EUD Test"} == {"Pass"}
        assert {r.gpu for r in per_gpu} == set(range(8))


def test_dcgmi_memory_fail_names_one_gpu_with_dcgms_message(env: dict[str, str]) -> None:
    fabric_running(env)
    e = _engine(env)
    _fault(e, "gpu 6 dcgm memory-fail")
    one = sim(e, "dcgmi", "diag", "-r", "1")
    assert one.returncode == 0
    for level in ("2", "3"):
        out = sim(e, "dcgmi", "diag", "-r", level)
        assert out.returncode == 226
        results = per_gpu_results(parse_dcgmi_diag(out.stdout))
        failed = [(r.test, r.gpu, r.message) for r in results if r.status == "Fail"]
        assert failed == [
            (
                "GPU Memory",
                6,
                "GPU 6 Found 1 faulty memory elements on GPU 6 Run a field diagnostic on the GPU.",
            )
        ]
    # every output line keeps the table's width, as dcgmi's stencil does
    real = (REAL / "dcgmi_diag_r3_fail_cuinit_8xH100.txt").read_text().splitlines()[2:]
    assert {len(line) for line in out.stdout.splitlines()[1:]} == {len(line) for line in real}


def test_dcgmi_hang_never_answers(env: dict[str, str]) -> None:
    import subprocess

    e = _engine(env)
    _fault(e, "dcgm hang")
    try:
        sim(e, "dcgmi", "diag", "-r", "1", timeout=2)
    except subprocess.TimeoutExpired:
        return
    raise AssertionError("dcgmi diag answered under a hang fault")


# ----------------------------------------------------------------------------- nvbandwidth


def test_nvbandwidth_like_the_real_blocks(env: dict[str, str]) -> None:
    fabric_running(env)
    run = parse_nvbandwidth(sim(env, "nvbandwidth").stdout)
    assert run.version == "v0.8" and run.driver_version == "535.183.01"
    for name in ("device_to_device_memcpy_write_ce", "host_to_device_memcpy_ce"):
        real = parse_nvbandwidth(
            next(REAL.glob(f"nvbandwidth_readme_v0.8_{name}_*.txt")).read_text()
        ).testcases[0]
        mine = run.testcase(name)
        assert mine is not None and mine.status == "ok"
        assert (mine.title, mine.columns, mine.rows, mine.unit) == (
            real.title,
            real.columns,
            real.rows,
            real.unit,
        )
        assert mine.total is not None and abs(mine.total - sum(mine.measured)) < 0.1
    h2d = run.testcase("host_to_device_memcpy_ce")
    d2d = run.testcase("device_to_device_memcpy_read_ce")
    assert h2d is not None and d2d is not None
    assert h2d.minimum is not None and 53 < h2d.minimum < 57  # Azure's bar: >= 48 GB/s
    assert d2d.minimum is not None and 360 < d2d.minimum < 380  # Azure's bar: >= 335 GB/s
    _fault(env, "gpu 3 pcie x8")
    slow = parse_nvbandwidth(sim(env, "nvbandwidth", "-t", "host_to_device_memcpy_ce").stdout)
    (only,) = slow.testcases
    assert [i for i, v in enumerate(only.values[0]) if v is not None and v < 48] == [3]


# --------------------------------------------------------------------------------- XID line


def test_xid_line_reads_like_the_real_kernel_lines() -> None:
    hw: dict[str, Any] = {"gpus": [{"index": 0, "bus_id": "00000000:19:00.0"}]}
    real = parse_kernel_log(
        (REAL / "dmesg_iso_xid48_dbe_xid63_row_remap_xid94_contained_peermem.txt").read_text()
    )
    for xid in (48, 63, 79, 94, 13):
        (event,) = parse_kernel_log(hardware.xid_line(hw, 0, xid))
        assert (event.code, event.bus_id, event.pci, event.pid) == (
            xid,
            "00000000:19:00.0",
            real[0].pci,
            1234,
        )
        same = [r for r in real if r.code == xid]
        if same:
            assert event.message == same[0].message
