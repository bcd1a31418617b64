"""The hardware simulators, run as subprocesses against a temporary hardware description.

Their output must have the structure of the real fixtures (tests/fixtures/real/), so the parsers
tested on real output read the mock's output the same way.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import hardware, inventory
from lab.config import REPO_ROOT
from lab.listening import listening, wait_until
from lab.simhw.build import wrapper
from lab.simhw.packages import PACKAGES
from lab.simhw.simload import sim_env, sim_module

SIM = REPO_ROOT / "lab/simhw/sim"
REAL = REPO_ROOT / "tests/fixtures/real"
nccl_tests = sim_module("nccl_tests")
perftest = sim_module("perftest")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    inv = inventory.load(REPO_ROOT / "inventory/mock.yaml")
    hw = hardware.describe(inv, inventory.nodes(inv)[1])
    path = tmp_path / "hardware.json"
    path.write_text(json.dumps(hw))
    return {
        **sim_env(),
        "TRAINBED_SIM_HARDWARE": str(path),
        "TRAINBED_SIM_RUN": str(tmp_path / "run"),
        "TRAINBED_SIM_FABRIC": str(tmp_path / "fab"),
        "TRAINBED_SIM_FM_PID": str(tmp_path / "fm.pid"),
    }


def sim(
    env: dict[str, str], module: str, *args: str, prog: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    code = (
        f"import sys; from {module} import main; "
        f"sys.exit(main({list(args)!r}" + (f", prog={prog!r}" if prog else "") + "))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout
    )


def edit(env: dict[str, str], fn) -> None:
    path = Path(env["TRAINBED_SIM_HARDWARE"])
    hw = json.loads(path.read_text())
    fn(hw)
    path.write_text(json.dumps(hw))


def fabric_running(env: dict[str, str]) -> None:
    Path(env["TRAINBED_SIM_FM_PID"]).write_text(f"{os.getpid()}\n")


def register_sms(env: dict[str, str]) -> None:
    hw = json.loads(Path(env["TRAINBED_SIM_HARDWARE"]).read_text())
    for h in hw["hcas"]:
        d = Path(env["TRAINBED_SIM_FABRIC"]) / "sm" / h["rail"]
        d.mkdir(parents=True, exist_ok=True)
        (d / "x.json").write_text(
            json.dumps({"guid": "0xa088c20300fa0b00", "priority": 15, "started": time.time()})
        )


def keys(text: str) -> list[str]:
    return [line.split(":")[0].rstrip() for line in text.splitlines() if ":" in line]


# --- nvidia-smi ------------------------------------------------------------------------------


def test_nvidia_smi_q_has_the_real_structure(env: dict[str, str]) -> None:
    fabric_running(env)
    out = sim(env, "nvidia_smi", "-q").stdout
    real = (REAL / "nvidia_smi_q_8xH100_535.183.01.txt").read_text()
    real_block = real.split("\nGPU ")[1].split("    Processes")[0]
    blocks = out.split("\nGPU ")[1:]
    assert len(blocks) == 8
    for block in blocks:
        assert keys(block.split("    Processes")[0])[1:] == keys(real_block)[1:]
    assert keys(out.split("\nGPU ")[0]) == keys(real.split("\nGPU ")[0])
    assert "Attached GPUs                             : 8" in out
    assert re.findall(r"Bus Id\s+: (\S+)", out)[:2] == ["00000000:19:00.0", "00000000:3B:00.0"]
    assert out.count("State                             : Completed") == 8


def test_nvidia_smi_fabric_state_follows_the_fabric_manager(env: dict[str, str]) -> None:
    out = sim(env, "nvidia_smi", "-q").stdout
    assert "Completed" not in out and out.count("In Progress") == 8


def test_nvidia_smi_table_layout_matches(env: dict[str, str]) -> None:
    out = sim(env, "nvidia_smi").stdout.splitlines()
    real = (REAL / "nvidia_smi_table_8xH100_550.90.07.txt").read_text().splitlines()
    assert len(out) == len(real)
    for mine, theirs in zip(out[1:], real[1:], strict=True):
        assert [m.start() for m in re.finditer(r"\|", mine)] == [
            m.start() for m in re.finditer(r"\|", theirs)
        ], mine
    assert "NVIDIA-SMI 535.183.01" in out[2] and "00000000:DB:00.0" in "\n".join(out)


def test_nvidia_smi_list_and_query(env: dict[str, str]) -> None:
    assert len(sim(env, "nvidia_smi", "-L").stdout.splitlines()) == 8
    q = sim(
        env,
        "nvidia_smi",
        "--query-gpu=index,name,pci.bus_id,persistence_mode,memory.total,"
        "driver_version,serial,uuid",
        "--format=csv,noheader,nounits",
    ).stdout.splitlines()
    assert len(q) == 8 and q[0].startswith(
        "0, NVIDIA H100 80GB HBM3, 00000000:19:00.0, Disabled, 81559, 535.183.01, "
    )
    head = sim(env, "nvidia_smi", "--query-gpu=index,memory.total", "--format=csv").stdout
    assert head.splitlines()[:2] == ["index, memory.total [MiB]", "0, 81559 MiB"]
    assert sim(env, "nvidia_smi", "--query-gpu=bogus", "--format=csv").returncode == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="nvidia-smi -pm needs root, as the real one does")
def test_nvidia_smi_enables_persistence_mode(env: dict[str, str]) -> None:
    assert sim(env, "nvidia_smi", "-pm", "1").stdout.endswith("All done.\n")
    query = ("--query-gpu=persistence_mode", "--format=csv,noheader")
    assert sim(env, "nvidia_smi", *query).stdout.splitlines() == ["Enabled"] * 8


def test_nvidia_smi_gpu_removed(env: dict[str, str]) -> None:
    edit(env, lambda hw: hardware.fault_gpu_remove(hw, 5))
    assert len(sim(env, "nvidia_smi", "-L").stdout.splitlines()) == 7
    assert "00000000:BB:00.0" not in sim(env, "nvidia_smi").stdout


def test_nvidia_smi_topo(env: dict[str, str]) -> None:
    out = sim(env, "nvidia_smi", "topo", "-m").stdout
    rows = out.splitlines()
    assert rows[0].split("\t")[1:9] == [f"GPU{i}" for i in range(8)]
    assert rows[1].split("\t")[9] == "PIX" and "  NIC7: mlx5_11" in out


# --- InfiniBand ------------------------------------------------------------------------------


def ca_blocks(text: str) -> list[str]:
    return [b for b in re.split(r"(?m)^(?=CA ')", text) if b.strip()]


def test_ibstat_structure_and_sm_dependency(env: dict[str, str]) -> None:
    real = ca_blocks((REAL / "ibstat_h100_node_8x_cx7_ndr400_all_active.txt").read_text())
    out = sim(env, "ibdiags", prog="ibstat").stdout
    assert len(ca_blocks(out)) == 8
    assert keys(ca_blocks(out)[0]) == keys(real[0].replace("        ", "\t"))
    assert out.count("State: Initializing") == 8  # no subnet manager yet
    register_sms(env)
    out = sim(env, "ibdiags", prog="ibstat").stdout
    assert out.count("State: Active") == 8 and out.count("Rate: 400") == 8
    edit(env, lambda hw: hardware.fault_hca_rate(hw, "mlx5_3", 200))
    edit(env, lambda hw: hardware.fault_hca_down(hw, "mlx5_4"))
    one = sim(env, "ibdiags", "mlx5_3", prog="ibstat").stdout
    assert "Rate: 200" in one and "State: Active" in one
    down = sim(env, "ibdiags", "mlx5_4", prog="ibstat").stdout
    assert "State: Down" in down and "Physical state: Polling" in down
    assert sim(env, "ibdiags", "mlx5_99", prog="ibstat").returncode != 0


def test_hca_firmware_fault_shows_in_ibstat(env: dict[str, str]) -> None:
    from trainbed.parse.ibstat import parse_ibstat

    edit(env, lambda hw: hardware.fault_hca_firmware(hw, "mlx5_3", "28.37.1014"))
    cas = {
        ca.name: ca.firmware_version
        for ca in parse_ibstat(sim(env, "ibdiags", prog="ibstat").stdout)
    }
    assert cas["mlx5_3"] == "28.37.1014" and cas["mlx5_0"] == "28.39.1002"
    edit(env, lambda hw: hardware.fault_hca_firmware(hw, "all", "28.35.1012"))
    out = sim(env, "ibdiags", prog="ibstat").stdout
    assert {ca.firmware_version for ca in parse_ibstat(out)} == {"28.35.1012"}
    with pytest.raises(KeyError):
        edit(env, lambda hw: hardware.fault_hca_firmware(hw, "mlx5_99", "1.2.3"))


def test_sminfo(env: dict[str, str]) -> None:
    assert sim(env, "ibdiags", prog="sminfo").returncode == 255
    register_sms(env)
    out = sim(env, "ibdiags", "-C", "mlx5_4", prog="sminfo").stdout
    assert re.match(
        r"sminfo: sm lid \d+ sm guid 0xa088c20300fa0b00, activity count \d+ "
        r"priority 15 state 3 SMINFO_MASTER",
        out,
    )


def test_a_recabled_port_sees_the_other_rails_master_and_prefix(env: dict[str, str]) -> None:
    """`rail` is the physical fabric: sminfo and ibstatus's GID prefix follow it."""
    for rail, guid, prefix in (
        ("rail2", "0xa088c20300fa0b02", "0xfe80000000000002"),
        ("rail4", "0xa088c20300fa0b04", "0xfe80000000000004"),
    ):
        d = Path(env["TRAINBED_SIM_FABRIC"]) / "sm" / rail
        d.mkdir(parents=True, exist_ok=True)
        record = {"guid": guid, "priority": 15, "started": time.time(), "subnet_prefix": prefix}
        (d / "x.json").write_text(json.dumps(record))
    hw = json.loads(Path(env["TRAINBED_SIM_HARDWARE"]).read_text())
    device = next(h["device"] for h in hw["hcas"] if h["rail"] == "rail2")
    status = sim(env, "ibdiags", f"{device}:1", prog="ibstatus").stdout
    assert "default gid:\t fe80:0000:0000:0002:" in status
    edit(env, lambda hw: hardware.fault_hca_rail(hw, device, "4"))
    out = sim(env, "ibdiags", "-C", device, prog="sminfo").stdout
    assert "sm guid 0xa088c20300fa0b04," in out
    status = sim(env, "ibdiags", f"{device}:1", prog="ibstatus").stdout
    assert "default gid:\t fe80:0000:0000:0004:" in status


def test_perftest_across_fabrics_and_a_slow_port() -> None:
    assert perftest.other_fabric({"rail": "rail3"}, {"rail": "rail4"})
    assert not perftest.other_fabric({"rail": "rail3"}, {"rail": "rail3"})
    full = perftest.model_bw_gbits(400, 400, 65536, 1)
    assert perftest.model_bw_gbits(400, 400, 65536, 1, 0.95) == pytest.approx(full * 0.95)


def test_ibv_devinfo_structure(env: dict[str, str]) -> None:
    register_sms(env)
    out = sim(env, "ibverbs", prog="ibv_devinfo").stdout
    real = (REAL / "ibv_devinfo_dell_cx7_DEL_psid_8x_ib_active.txt").read_text()
    shape = [re.sub(r"\t[^\t]*$", "\t", line) for line in real.split("\n\n")[0].splitlines()]
    mine = [re.sub(r"\t[^\t]*$", "\t", line) for line in out.split("\n\n")[0].splitlines()]
    assert mine == shape
    assert out.count("PORT_ACTIVE (4)") == 8
    assert "8 HCAs found:" in sim(env, "ibverbs", "-l", prog="ibv_devinfo").stdout
    assert "mlx5_11" in sim(env, "ibverbs", prog="ibv_devices").stdout


def test_opensm_refuses_a_foreign_guid(env: dict[str, str]) -> None:
    proc = sim(env, "opensm", "-g", "0xdeadbeef", "-p", "15")
    assert proc.returncode != 0 and "Error from osm_opensm_bind (0x2A)" in proc.stdout
    assert sim(env, "opensm", "--bogus").returncode != 0


def test_opensm_registers_and_activates_the_rail(env: dict[str, str], tmp_path: Path) -> None:
    conf = tmp_path / "rail0.conf"
    conf.write_text("guid 0xa088c20300fa1500\nsm_priority 14\n")
    code = "import sys; from opensm import main; sys.exit(main())"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "-F", str(conf), "-f", str(tmp_path / "osm.log")],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if "State: Active" in sim(env, "ibdiags", "mlx5_0", prog="ibstat").stdout:
                break
            time.sleep(0.1)
        else:
            pytest.fail("rail0 port never became Active while opensm ran")
        assert "State: Initializing" in sim(env, "ibdiags", "mlx5_3", prog="ibstat").stdout
        assert "priority 14" in sim(env, "ibdiags", prog="sminfo").stdout
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "Entering MASTER state" in out
    assert not list((Path(env["TRAINBED_SIM_FABRIC"]) / "sm" / "rail0").glob("*.json"))


# --- perftest ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pair(
    env: dict[str, str],
    *args: str,
    client_env: dict[str, str] | None = None,
    prog: str = "ib_write_bw",
):
    port = str(free_port())
    code = f"import sys; from perftest import main; sys.exit(main(prog={prog!r}))"
    server = subprocess.Popen(
        [sys.executable, "-c", code, "-p", port, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready = wait_until(lambda: listening(Path("/proc/net/tcp").read_text(), int(port)), 10)
    if not ready:
        server.kill()
        pytest.fail(f"the ib_write_bw server never listened on port {port}")
    client = sim(client_env or env, "perftest", "-p", port, *args, "127.0.0.1", prog=prog)
    s_out, s_err = server.communicate(timeout=30)
    return client, server.returncode, s_out, s_err


def result_row(text: str) -> list[str]:
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(" #bytes"))
    return lines[i + 1].split()


def test_ib_write_bw_pair_reports_the_model(env: dict[str, str]) -> None:
    register_sms(env)
    client, s_rc, s_out, _ = pair(env, "-d", "mlx5_0", "--report_gbits")
    assert client.returncode == 0 and s_rc == 0, client.stderr
    assert "* Waiting for client to connect... *" in s_out
    size, iters, _peak, avg, _rate = result_row(client.stdout)
    assert (size, iters) == ("65536", "5000") and 388 < float(avg) < 396
    assert (
        " #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   MsgRate[Mpps]"
        in client.stdout
    )
    assert abs(float(result_row(s_out)[3]) - float(avg)) < 1


def test_ib_write_bw_default_units_and_degraded_peer(env: dict[str, str], tmp_path: Path) -> None:
    register_sms(env)
    slow = dict(env, TRAINBED_SIM_HARDWARE=str(tmp_path / "slow.json"))
    hw = json.loads(Path(env["TRAINBED_SIM_HARDWARE"]).read_text())
    Path(slow["TRAINBED_SIM_HARDWARE"]).write_text(
        json.dumps(hardware.fault_hca_rate(hw, "mlx5_0", 200))
    )
    client, _, _, _ = pair(env, "-d", "mlx5_0", "-D", "2", client_env=slow)
    assert "BW average[MB/sec]" in client.stdout
    row = result_row(client.stdout)
    assert row[2] == "0.00"  # BW peak is not measured with -D
    assert 23000 < float(row[3]) < 23600  # 200 Gb/s x 0.985 in 2^20 B/s


def test_ib_write_lat_pair_prints_perftests_latency_table(
    env: dict[str, str], tmp_path: Path
) -> None:
    register_sms(env)
    client, s_rc, s_out, _ = pair(env, "-d", "mlx5_0", prog="ib_write_lat")
    assert client.returncode == 0 and s_rc == 0, client.stderr
    assert "RDMA_Write Latency Test" in client.stdout and "Waiting for client" in s_out
    # perftest_parameters.h RESULT_FMT_LAT, and the header of the real fixture, verbatim.
    real = (REAL / "perftest_ib_write_lat_client_rdma_cm_dgx_spark_cx7_2b_p99_1.57.txt").read_text()
    header = next(line for line in real.splitlines() if line.startswith(" #bytes"))
    assert header + " " in client.stdout.splitlines()
    size, iters, t_min, t_max, typical, avg, _stdev, p99, p999 = result_row(client.stdout)
    assert (size, iters) == ("2", "1000")
    assert float(t_min) < float(typical) < float(p99) < float(p999) < float(t_max)
    assert 0.9 < float(typical) < 1.1 and float(avg) >= float(typical)
    assert result_row(s_out)[:2] == ["2", "1000"]
    slow = dict(env, TRAINBED_SIM_HARDWARE=str(tmp_path / "slow.json"))
    hw = json.loads(Path(env["TRAINBED_SIM_HARDWARE"]).read_text())
    Path(slow["TRAINBED_SIM_HARDWARE"]).write_text(
        json.dumps(hardware.fault_hca_latency(hw, "mlx5_0", 5))
    )
    late, _, _, _ = pair(env, "-d", "mlx5_0", client_env=slow, prog="ib_write_lat")
    assert 5.9 < float(result_row(late.stdout)[7]) < 6.3  # p99, 5 µs added


def test_ib_write_bw_failures(env: dict[str, str]) -> None:
    register_sms(env)
    refused = sim(env, "perftest", "-p", str(free_port()), "127.0.0.1")
    real = (REAL / "perftest_ib_write_bw_client_connect_refused_pr228.txt").read_text()
    assert refused.returncode != 0
    assert refused.stderr.splitlines()[1] == real.splitlines()[-1]
    edit(env, lambda hw: hardware.fault_hca_down(hw, "mlx5_0"))
    down = sim(env, "perftest", "-d", "mlx5_0", "127.0.0.1")
    assert down.returncode != 0 and "Port number 1 state is Down" in down.stderr


# --- nccl-tests --------------------------------------------------------------------------------

ROW = re.compile(
    r"^\s+(\d+)\s+(\d+)\s+float\s+sum\s+-1(\s+[\d.]+){3}\s+(\S+)(\s+[\d.]+){3}\s+(\S+)$"
)


def test_all_reduce_perf_single_node_table(env: dict[str, str]) -> None:
    fabric_running(env)
    out = sim(
        env, "nccl_tests", "-b", "8", "-e", "8G", "-f", "2", "-g", "8", prog="all_reduce_perf"
    ).stdout
    real = (
        (REAL / "nccl_allreduce_single_node_8xH100_v2.17.9_peak369_no_nvls_together.txt")
        .read_text()
        .splitlines()
    )
    lines = out.splitlines()
    assert lines[2] == real[2]  # the nThread ... line
    assert [line for line in lines if line.startswith("#    ") or "out-of-place" in line] == [
        line for line in real if line.startswith("#    ") or "out-of-place" in line
    ]
    devices = [line for line in lines if line.startswith("#  Rank")]
    assert len(devices) == 8 and devices[0].endswith("device  0 [0000:19:00] NVIDIA H100 80GB HBM3")
    rows = [line for line in lines if ROW.match(line)]
    assert len(rows) == 31
    assert [len(r) for r in rows] == [len(r) for r in real if ROW.match(r)]
    peak = max(float(r.split()[7]) for r in rows)
    assert 465 < peak < 495
    assert (
        "# Out of bounds values : 0 OK" in lines
        and lines[-3] == "# Collective test concluded: all_reduce_perf"
    )


def test_all_reduce_perf_faults(env: dict[str, str]) -> None:
    failing = sim(env, "nccl_tests", "-g", "8", prog="all_reduce_perf")
    real = (
        REAL / "nccl_allreduce_cuda_system_not_initialized_no_fabricmanager_8xH100.txt"
    ).read_text()
    assert failing.returncode != 0
    assert re.sub(r"^\S+: ", "", failing.stdout.splitlines()[-2]) == re.sub(
        r"^\S+: ", "", real.splitlines()[-2]
    )
    fabric_running(env)
    nvls_off = dict(env, NCCL_NVLS_ENABLE="0")
    out = sim(nvls_off, "nccl_tests", "-b", "8G", "-e", "8G", "-g", "8", prog="all_reduce_perf")
    assert 355 < float(out.stdout.split("Avg bus bandwidth    : ")[1].split()[0]) < 385
    edit(env, lambda hw: hardware.fault_nccl_wrong(hw))
    wrong = sim(
        env, "nccl_tests", "-b", "1M", "-e", "4M", "-f", "2", "-g", "8", prog="all_reduce_perf"
    )
    assert wrong.returncode != 0 and re.search(
        r"Out of bounds values : [1-9]\d* FAILED", wrong.stdout
    )
    edit(env, lambda hw: hardware.fault_gpu_remove(hw, 5))
    missing = sim(env, "nccl_tests", "-g", "8", prog="all_reduce_perf")
    assert missing.returncode != 0 and "'invalid device ordinal'" in missing.stdout


def node(rates: list[int]) -> dict:
    return {"hca_rates": rates}


def test_bandwidth_model() -> None:
    env: dict[str, str] = {}
    assert nccl_tests.peak_busbw([node([400] * 8)], 8, env) == 480
    assert nccl_tests.peak_busbw([node([400] * 8)], 8, {"NCCL_NVLS_ENABLE": "0"}) == 370
    ring = {"NCCL_ALGO": "Ring"}
    assert nccl_tests.peak_busbw([node([400] * 8)] * 2, 8, ring) == pytest.approx(368)
    # the slowest HCA of any node bounds every rail of the ring
    slow = nccl_tests.peak_busbw([node([400] * 7 + [200]), node([400] * 8)], 8, ring)
    assert slow == pytest.approx(184)
    # config 2: 4 HCAs per node -> ~200 GB/s ceiling
    assert nccl_tests.peak_busbw([node([400] * 4)] * 4, 8, ring) == pytest.approx(184)
    assert nccl_tests.peak_busbw([node([400] * 8)] * 2, 8, env) > 400  # tree reads high
    assert perftest.model_bw_gbits(400, 400, 65536, 1) == pytest.approx(394, abs=1.5)
    assert perftest.model_bw_gbits(400, 200, 65536, 1) == pytest.approx(197, abs=1)


def test_all_reduce_perf_two_tasks_rendezvous(env: dict[str, str]) -> None:
    fabric_running(env)
    register_sms(env)
    job = {"SLURM_NTASKS": "2", "SLURM_JOB_ID": "7", "SLURM_STEP_ID": "0"}
    code = "import sys; from nccl_tests import main; sys.exit(main(prog='all_reduce_perf'))"
    rank1 = subprocess.Popen(
        [sys.executable, "-c", code, "-b", "1G", "-e", "1G", "-g", "8"],
        env={**env, **job, "SLURM_PROCID": "1", "TRAINBED_SIM_HOSTNAME": "gpu02"},
        stdout=subprocess.PIPE,
        text=True,
    )
    rank0 = sim(
        {**env, **job, "SLURM_PROCID": "0", "NCCL_ALGO": "Ring"},
        "nccl_tests",
        "-b",
        "1G",
        "-e",
        "1G",
        "-g",
        "8",
        prog="all_reduce_perf",
    )
    assert rank1.stdout is not None
    assert rank1.wait(timeout=30) == 0 and rank1.stdout.read() == ""
    assert rank0.returncode == 0
    assert sum(line.startswith("#  Rank") for line in rank0.stdout.splitlines()) == 16
    assert "on      gpu02 device  7" in rank0.stdout
    busbw = float(rank0.stdout.split("Avg bus bandwidth    : ")[1].split()[0])
    assert 330 < busbw < 380


def test_configuration_2_inventory_gives_four_active_ports(tmp_path: Path) -> None:
    """A configuration-2 inventory (4 HCAs per node) makes a node whose ibstat shows 4 ports."""
    inv = inventory.load(REPO_ROOT / "inventory/mock.yaml")
    for node in inv["compute"]:
        node["hcas"] = node["hcas"][::2]
    inv["networks"]["infiniband"]["network_config"] = 2
    hw = hardware.describe(inv, inventory.nodes(inv)[1])
    path = tmp_path / "hardware.json"
    path.write_text(json.dumps(hw))
    env = {
        **sim_env(),
        "TRAINBED_SIM_HARDWARE": str(path),
        "TRAINBED_SIM_RUN": str(tmp_path / "run"),
        "TRAINBED_SIM_FABRIC": str(tmp_path / "fab"),
        "TRAINBED_SIM_FM_PID": str(tmp_path / "fm.pid"),
    }
    register_sms(env)
    out = sim(env, "ibdiags", prog="ibstat").stdout
    assert out.count("State: Active") == 4 and out.count("Rate: 400") == 4


# --- the packages' command wrappers ------------------------------------------------------------


def test_command_wrapper_loads_its_modules_by_name(env: dict[str, str], tmp_path: Path) -> None:
    """/usr/bin/nvidia-smi as the package installs it (its modules here), with no PYTHONPATH."""
    spec = PACKAGES["nvidia-driver-535-server"]
    text = wrapper("nvidia-driver-535-server", spec, "/usr/bin/nvidia-smi", "nvidia_smi", str(SIM))
    assert "sys.path" not in text
    command = tmp_path / "nvidia-smi"
    command.write_text(text)
    fabric_running(env)
    bare = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, str(command), "-q"], env=bare, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr

    def stable(out: str) -> list[str]:  # all but the clock's line
        return [line for line in out.splitlines() if not line.startswith("Timestamp")]

    assert stable(proc.stdout) == stable(sim(env, "nvidia_smi", "-q").stdout)
    assert "Attached GPUs                             : 8" in proc.stdout


def _publish(env: dict[str, str], hw: dict[str, object]) -> None:
    d = Path(env["TRAINBED_SIM_FABRIC"]) / "cabling"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{hw['hostname']}.json").write_text(json.dumps(hardware.cabling(hw)))


def test_ibnetdiscover_lays_out_ports_like_the_real_sweep() -> None:
    """The simulator's line writer gives back each connected line of the real sample exactly."""
    ibdiags = sim_module("ibdiags")
    from trainbed.parse.ibnetdiscover import parse_ibnetdiscover_ports

    real = (REAL / "ibnetdiscover_p_edr_fabric_selected_lines_unconnected_ports.txt").read_text()
    lines = [line for line in real.splitlines() if " - " in line]
    assert len(lines) == 7
    for line, port in zip(lines, parse_ibnetdiscover_ports(real), strict=False):
        assert port.connected
        written = ibdiags.port_line(
            port.node_type,
            port.lid,
            port.port,
            port.guid,
            port.width,
            port.speed,
            port.peer_type,
            port.peer_lid,
            port.peer_port,
            port.peer_guid,
            port.description,
            port.peer_description,
        )
        assert written == line.rstrip()


def test_ibnetdiscover_lists_the_rails_cabled_ports(env: dict[str, str]) -> None:
    """Every Active port of the local port's rail with a leaf port, from the published cabling;
    a recabled port shows at its new leaf port; a port of another rail is not listed."""
    from trainbed.parse.ibnetdiscover import parse_ibnetdiscover_ports

    register_sms(env)
    hw = json.loads(Path(env["TRAINBED_SIM_HARDWARE"]).read_text())
    assert sim(env, "ibdiags", "-C", "mlx5_0", prog="ibnetdiscover").returncode == 255  # no -p
    _publish(env, hw)
    out = sim(env, "ibdiags", "-p", "-C", "mlx5_0", "-P", "1", prog="ibnetdiscover")
    assert out.returncode == 0, out.stderr
    ports = parse_ibnetdiscover_ports(out.stdout)
    mine = dict(next(h for h in hw["hcas"] if h["device"] == "mlx5_0"))
    assert [(p.node_type, p.guid, p.peer_port, p.peer_description) for p in ports] == [
        ("CA", mine["port_guid"], mine["switch_port"], "ib-rail0"),
        ("SW", ibdiags_switch_guid("ib-rail0"), mine["port"], "gpu01 mlx5_0"),
    ]
    hardware.fault_hca_port(hw, "mlx5_0", "ib-rail0", 7)
    hardware.fault_hca_rail(hw, "mlx5_3", "rail0")
    _publish(env, hw)
    ports = parse_ibnetdiscover_ports(
        sim(env, "ibdiags", "-p", "-C", "mlx5_0", prog="ibnetdiscover").stdout
    )
    assert sorted((p.description, p.peer_port) for p in ports if p.node_type == "CA") == [
        ("gpu01 mlx5_0", 7),
        ("gpu01 mlx5_3", mine["switch_port"]),
    ]


def ibdiags_switch_guid(name: str) -> str:
    return str(sim_module("ibdiags").switch_guid(name))
