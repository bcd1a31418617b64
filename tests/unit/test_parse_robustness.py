"""Every text parser returns a (possibly empty) answer for arbitrary input, never an exception."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainbed.parse.chrony import parse_tracking
from trainbed.parse.dcgmi import parse_dcgmi_diag, per_gpu_results
from trainbed.parse.dmesg import parse_kernel_log, within
from trainbed.parse.ibnetdiscover import parse_ibnetdiscover_ports
from trainbed.parse.ibstat import parse_ibstat
from trainbed.parse.ibv_devinfo import parse_ibv_devinfo
from trainbed.parse.journal import journal_xids
from trainbed.parse.lspci import parse_lspci, pci_path
from trainbed.parse.mlxlink import parse_mlxlink
from trainbed.parse.nemo import parse_nemo_log
from trainbed.parse.nvidia_smi import (
    nearest_nic,
    parse_csv_query,
    parse_query,
    parse_table,
    parse_topology,
)
from trainbed.parse.nvlink import parse_nvlink_status
from trainbed.parse.perfquery import counter_delta, parse_perfquery
from trainbed.parse.slurm import parse_scontrol_show_node, parse_sinfo

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"

PARSERS: list[Callable[[str], Any]] = [
    parse_query,
    parse_table,
    lambda t: parse_csv_query(
        t, ["index", "name", "pci.bus_id", "persistence_mode", "memory.total"]
    ),
    lambda t: nearest_nic(parse_topology(t), 0),
    parse_ibstat,
    parse_ibv_devinfo,
    parse_scontrol_show_node,
    parse_sinfo,
    parse_dcgmi_diag,
    lambda t: per_gpu_results(parse_dcgmi_diag(t)),
    parse_nemo_log,
    lambda t: within(
        parse_kernel_log(t), datetime(2025, 1, 1, tzinfo=UTC), boot_time=datetime(2025, 1, 1)
    ),
    parse_nvlink_status,
    lambda t: [pci_path(devices, d.address) for devices in [parse_lspci(t)] for d in devices],
    lambda t: [counter_delta(p, p) for p in parse_perfquery(t)],
    parse_mlxlink,
    parse_ibnetdiscover_ports,
    journal_xids,
    parse_tracking,
]

# Characters the real outputs are made of, so that random text often looks almost right.
_ALPHABET = st.sampled_from(list("\t\n |+-=:,.*@[]()'0123456789ABCDEFXGPUNICmlx_ PortCAState"))
# Fragments of the hardware tools' lines, glued at random, so that the line-shaped parsers
# (kernel log, nvlink, lspci, perfquery, mlxlink) meet nearly-right lines too.
_FRAGMENTS = st.sampled_from(
    [
        "\n", " ", "0", "19", "1e", ".", ":", ",", "+", "-", "x", "(", ")",
        "NVRM: Xid (PCI:0000:19:00): ", "SXid (PCI:0000:87:00.0): ", "pid=", "name=",
        "[  12.5] ", "[Sun Feb 23 16:24:18 2025] ", "2024-11-15T12:02:03,470068+00:00 ",
        "GPU 0: NVIDIA H100 (UUID: GPU-1)", "\t Link 0: ", "GB/s", "<inactive>",
        "17:00.0 PCI bridge: x", "\tBus: primary=16, secondary=17, subordinate=18",
        "\t\tLnkSta:\tSpeed ", "\t\tLnkCap:\tPort #0, Speed ", "GT/s (downgraded), Width x",
        "\t\tACSCtl:\t", "ReqRedir+", "# Port extended counters: Lid 1 port 1",
        "SymbolErrorCounter:....", "Effective Physical BER : ", "E-", "Raw Physical Errors Per Lane : ",
        '{"result": {"output": {"x": {"Raw Physical BER": ', "SW  1719 10 0x7cfe9003009ce5b0 ",
        "4x EDR - ", "( 'a' - 'b' )", "'ib-i4l1s01'",
    ]
)  # fmt: skip
_TEXT = st.one_of(
    st.text(),
    st.text(alphabet=_ALPHABET, max_size=400),
    st.lists(_FRAGMENTS, max_size=80).map("".join),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(text=_TEXT)
@pytest.mark.parametrize("parser", PARSERS)
def test_parsers_never_raise(parser: Callable[[str], Any], text: str) -> None:
    parser(text)


_FIXTURE_TEXTS = sorted(p.name for p in FIXTURES.glob("*.txt"))


@settings(max_examples=40)
@given(data=st.data())
@pytest.mark.parametrize("parser", PARSERS)
def test_parsers_never_raise_on_mangled_fixtures(parser: Callable[[str], Any], data: Any) -> None:
    name = data.draw(st.sampled_from(_FIXTURE_TEXTS))
    lines = (FIXTURES / name).read_text().splitlines(keepends=True)
    kept = data.draw(st.lists(st.sampled_from(lines), max_size=60)) if lines else []
    parser("".join(kept))
