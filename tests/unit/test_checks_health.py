"""The hardware health checks' reading and judging (trainbed.checks.health) against a fake node
that answers commands with real tool output; a command that could not run is never a verdict."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from testinfra.backend.base import CommandResult

from tests.conftest import PROD_YAML
from trainbed.checks import health
from trainbed.health.judge import journal_since
from trainbed.inventory import load_inventory
from trainbed.inventory.model import ComputeNode, Hca, HealthThresholds
from trainbed.parse.journal import journal_xids, parse_journal_json
from trainbed.remote import Remote
from trainbed.verdicts import Findings, NotRun

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"
NVIDIA_SMI_Q = (
    REAL / "nvidia_smi_q_8xH100_535.161.08_hw_power_brake_slowdown_active_pcie_replays.txt"
).read_text()
LSPCI = (
    REAL / "lspci_vvv_dell_xe9680_gpu0_pex890xx_switch_h100_cx7_cx6dx_acs_off_16gts_downgraded.txt"
).read_text()
XID119 = (REAL / "dmesg_xid119_gsp_rpc_timeout_h100_dell_xe9680.txt").read_text()


class FakeHost:
    """A testinfra host answering each command from a table: command → (exit, stdout, stderr);
    a command not in the table exits 127 like the shell for a missing tool."""

    def __init__(self, answers: dict[str, tuple[int, str, str]]) -> None:
        self.answers = answers
        self.ran: list[str] = []

    def run(self, command: str) -> CommandResult:
        self.ran.append(command)
        rc, out, err = self.answers.get(command, (127, "", f"{command.split()[0]}: not found"))
        backend = SimpleNamespace(decode=bytes.decode)
        return CommandResult(backend, rc, command.encode(), out.encode(), err.encode())


def _remote(answers: dict[str, tuple[int, str, str]]) -> tuple[Remote, FakeHost]:
    host = FakeHost(answers)
    return Remote("gpu01", host, "10.0.0.1"), host


@pytest.fixture(scope="module")
def node() -> ComputeNode:
    """gpu01 of the prod inventory with two HCAs naming their nearest GPU."""
    base = load_inventory(PROD_YAML).inventory.compute_node("gpu01")
    hcas = (Hca("mlx5_0", "rail0", 1, None, 0), Hca("mlx5_3", "rail1", 1, None, 1))
    return dataclasses.replace(base, hcas=hcas)


def test_missing_tool_and_timeout_could_not_run() -> None:
    remote, _ = _remote({"timeout -k 10 5 dcgmi diag -r 1": (124, "", "")})
    assert health.pci_devices(remote) == NotRun("gpu01 lspci", "`lspci -vvv`: command not found")
    assert health.dcgm_findings(remote, "quick", 5) == NotRun(
        "gpu01 dcgmi diag -r 1", "`dcgmi diag -r 1` did not answer within 5 s"
    )


def test_dcgm_without_a_table_could_not_run_and_a_failing_table_is_judged() -> None:
    failing = (REAL / "dcgmi_diag_r3_fail_cuinit_8xH100.txt").read_text()
    remote, _ = _remote(
        {
            "timeout -k 10 60 dcgmi diag -r 3": (226, failing, ""),
            "timeout -k 10 60 dcgmi diag -r 2": (
                255,
                "Error: unable to connect to host engine",
                "",
            ),
        }
    )
    found = health.dcgm_findings(remote, "burn-in", 60)
    assert isinstance(found, Findings) and len(found.failures) == 8
    not_run = health.dcgm_findings(remote, "standard", 60)
    assert not_run == NotRun(
        "gpu01 dcgmi diag -r 2", "no results table (Error: unable to connect to host engine)"
    )


def test_skips_say_could_not_run() -> None:
    with pytest.raises(pytest.skip.Exception, match=r"^could not run: gpu01 lspci: `lspci"):
        health.need(NotRun("gpu01 lspci", "`lspci -vvv`: command not found"))


def _journal(entries: list[tuple[datetime, str]]) -> str:
    """`journalctl -o json` lines (constructed in its documented form) carrying real messages."""
    return "".join(
        json.dumps({"MESSAGE": text, "__REALTIME_TIMESTAMP": str(int(when.timestamp() * 1e6))})
        + "\n"
        for when, text in entries
    )


def _entries(dmesg_t: str) -> list[tuple[datetime, str]]:
    """(time, message) of each line of real `dmesg -T` output, its local time read as UTC."""
    out = []
    for line in dmesg_t.splitlines():
        stamp, _, text = line.removeprefix("[").partition("] ")
        when = datetime.strptime(" ".join(stamp.split()), "%a %b %d %H:%M:%S %Y")
        out.append((when.replace(tzinfo=UTC), text))
    return out


def test_xids_from_the_journal_window() -> None:
    now = datetime(2025, 2, 24, 12, 0, tzinfo=UTC)
    since = journal_since(now, 24)
    assert since == f"@{int(datetime(2025, 2, 23, 12, 0, tzinfo=UTC).timestamp())}"
    command = health.JOURNAL_COMMAND.replace("%s", since)
    remote, host = _remote(
        {command: (0, _journal(_entries(XID119)), ""), "nvidia-smi -q": (0, NVIDIA_SMI_Q, "")}
    )
    found = health.xid_findings(remote, HealthThresholds(), now)
    assert isinstance(found, Findings)
    assert found.failures == (
        "gpu01 GPU 4 (00000000:9B:00.0) XID: expected no critical XID in 24 h, got XID 119 ×5, "
        "last at 2025-02-23T16:30:13+00:00 (Timeout after 6s of waiting for RPC response "
        "from GPU4 GSP! Expected function 103 (GSP_RM_ALLOC) (0x2081 0x4).)",
    )
    assert host.ran[0] == command


def test_xids_name_the_bus_id_when_nvidia_smi_cannot_run() -> None:
    line = "NVRM: Xid (PCI:0000:9b:00): 31, pid=77, name=python3, MMU Fault"  # a constructed line
    now = datetime(2025, 2, 24, 12, 0, tzinfo=UTC)
    command = health.JOURNAL_COMMAND.replace("%s", journal_since(now, 24))
    at = datetime(2025, 2, 24, 11, 0, tzinfo=UTC)
    remote, _ = _remote({command: (0, _journal([(at, line)]), "")})
    found = health.xid_findings(remote, HealthThresholds(), now)
    assert isinstance(found, Findings) and found.failures == ()
    assert found.warnings[0].startswith("gpu01 GPU at 00000000:9B:00.0 XID: expected no XID")


def test_pcie_links_gpus_absent_from_lspci_and_the_rail_hca_found(node: ComputeNode) -> None:
    """The real lspci holds GPU 0's switch subtree only: GPUs 1-7 are absent from it, and mlx5_3
    (nearest GPU 1) cannot be placed; GPU 0 and its ConnectX-7 run Gen5 x16."""
    remote, _ = _remote({"lspci -vvv": (0, LSPCI, ""), "nvidia-smi -q": (0, NVIDIA_SMI_Q, "")})
    found = health.link_findings(remote, node)
    assert isinstance(found, Findings)
    assert [line.split(" PCIe link")[0] for line in found.failures] == [
        f"gpu01 GPU {i} (00000000:{bus}:00.0)"
        for i, bus in enumerate(("19", "3B", "4C", "5D", "9B", "BB", "CB", "DB"))
        if i
    ]
    pairs = health.rail_pairs(
        node, health.need(health.pci_devices(remote)), health.need(health.gpus(remote))
    )
    assert [(p.hca.device, p.hca_name) for p in pairs] == [
        ("mlx5_0", "mlx5_0 (00000000:1A:00.0)"),
        ("mlx5_3", "mlx5_3"),
    ]
    assert health.acs_findings(remote, node) == Findings()


def test_topology_of_the_rail_hcas(node: ComputeNode) -> None:
    topo = (REAL / "nvidia_smi_topo_mp_8xH100_12nic_dell_cx7_pcie_only.txt").read_text()
    remote, _ = _remote({"nvidia-smi topo -m": (0, topo, "")})
    assert health.topology_findings(remote, node) == Findings()  # mlx5_0 PIX GPU0, mlx5_3 PIX GPU1


def test_first_readings_and_a_port_never_read(node: ComputeNode) -> None:
    perfquery = REAL / "perfquery_x_switch_port_edr_linkdowned1_xmitdiscards20046_relayerr7.txt"
    remote, _ = _remote({"perfquery -x -C mlx5_0 -P 1": (0, perfquery.read_text(), "")})
    first = health.first_readings([(remote, node.hcas)])
    reading = first.get("gpu01", node.hcas[0])
    assert not isinstance(reading, NotRun) and reading[0].counters["LinkDownedCounter"] == 1
    assert first.get("gpu01", node.hcas[1]) == NotRun(
        "gpu01 mlx5_3 perfquery", "`perfquery -x -C mlx5_3 -P 1`: command not found"
    )
    assert isinstance(first.get("gpu02", node.hcas[0]), NotRun)


def test_journal_json_lines() -> None:
    """Constructed lines in systemd's export form: a message as a byte array (not UTF-8), a
    line that is no JSON object, an entry without a timestamp."""
    text = (
        '{"MESSAGE": [78, 86, 82, 77, 255], "__REALTIME_TIMESTAMP": "1740300000000000"}\n'
        "-- No entries --\n"
        '["not", "an", "object"]\n'
        '{"MESSAGE": "NVRM: Xid (PCI:0000:19:00): 79, pid=1, name=x, GPU has fallen off the bus."}\n'
    )
    entries = parse_journal_json(text)
    assert [e.message for e in entries] == [
        "NVRM\ufffd",
        "NVRM: Xid (PCI:0000:19:00): 79, pid=1, name=x, GPU has fallen off the bus.",
    ]
    assert entries[0].time == datetime(2025, 2, 23, 8, 40, tzinfo=UTC) and entries[1].time is None
    (event,) = journal_xids(text)
    assert (event.code, event.bus_id, event.line, event.time) == (79, "00000000:19:00.0", 2, None)


def test_nvbandwidth_runs_the_three_testcases_under_a_timeout() -> None:
    text = "".join(
        (REAL / name).read_text()
        for name in (
            "nvbandwidth_readme_v0.8_host_to_device_memcpy_ce_8gpu_26gbs.txt",
            "nvbandwidth_readme_v0.8_device_to_device_memcpy_write_ce_8gpu_276gbs.txt",
        )
    )
    command = (
        "timeout -k 10 600 nvbandwidth -t host_to_device_memcpy_ce -t "
        "device_to_device_memcpy_read_ce -t device_to_device_memcpy_write_ce"
    )
    remote, _ = _remote({command: (0, text, "")})
    found = health.nvbandwidth_findings(remote, HealthThresholds())
    assert isinstance(found, Findings) and len(found.failures) == 3
    remote, _ = _remote({command: (137, "", "")})
    assert isinstance(health.nvbandwidth_findings(remote, HealthThresholds()), NotRun)
