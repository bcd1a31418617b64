"""Kernel-log XID/SXID parser against real output (tests/fixtures/real, see SOURCES.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from trainbed.parse.dmesg import XidEvent, event_time, parse_kernel_log, within

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"
XID119 = FIXTURES / "dmesg_xid119_gsp_rpc_timeout_h100_dell_xe9680.txt"
ISO = FIXTURES / "dmesg_iso_xid48_dbe_xid63_row_remap_xid94_contained_peermem.txt"


def test_xid119_xe9680_dmesg_T() -> None:
    events = parse_kernel_log(XID119.read_text())

    # The RPC-history tables, the call trace and the rate-limit note are not events.
    assert [(e.line, e.code, e.bus_id) for e in events] == [
        (3, 119, "00000000:9B:00.0"),
        (38, 119, "00000000:9B:00.0"),
        (40, 119, "00000000:9B:00.0"),
        (42, 119, "00000000:9B:00.0"),
        (43, 119, "00000000:9B:00.0"),
    ]
    first = events[0]
    assert first.kind == "xid"
    assert first.pci == "PCI:0000:9b:00"
    assert (first.pid, first.process) == (2024380, "nvidia-smi")
    assert first.stamp == "Sun Feb 23 16:24:18 2025"
    assert first.time == "2025-02-23T16:24:18"
    assert first.uptime_s is None
    assert first.message == (
        "Timeout after 6s of waiting for RPC response from GPU4 GSP! "
        "Expected function 103 (GSP_RM_ALLOC) (0x2081 0x4)."
    )
    assert [(e.pid, e.process) for e in events[3:]] == [
        (1263500, "cache_mgr_main"),
        (1240590, "gpud"),
    ]


def test_iso_xid48_63_94_among_peermem_noise() -> None:
    events = parse_kernel_log(ISO.read_text())

    assert [e.code for e in events] == [48, 63] + [94] * 9
    assert {e.bus_id for e in events} == {"00000000:19:00.0"}
    dbe, remap, contained = events[:3]
    assert dbe.message.startswith("An uncorrectable double bit error (DBE) has been detected")
    assert remap.message == (
        "Row Remapper: New row (0x00000012bac1c3e0) marked for remapping, reset gpu to activate."
    )
    assert contained.message == "Contained: SM (0x1). RST: No, D-RST: No"
    # pid='<unknown>', name=<unknown> is no pid and no process.
    assert (dbe.pid, dbe.process) == (None, None)
    assert (events[3].pid, events[3].process, events[3].message) == (
        1248209,
        "python3.10",
        "Ch 00000008",
    )
    assert dbe.stamp == "2024-11-15T12:02:03,470068+00:00"
    assert event_time(dbe) == datetime(2024, 11, 15, 12, 2, 3, 470068, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "lines"),
    [
        (datetime(2025, 2, 23, 16, 0), None, [3, 38, 40, 42, 43]),
        (datetime(2025, 2, 23, 16, 25), None, [42, 43]),
        (datetime(2025, 2, 23, 16, 24, 24), datetime(2025, 2, 23, 16, 27, 12), [38, 40, 42]),
        (datetime(2025, 2, 23, 16, 31), None, []),
    ],
)
def test_window_on_dmesg_T(start: datetime, end: datetime | None, lines: list[int]) -> None:
    events = parse_kernel_log(XID119.read_text())
    assert [e.line for e in within(events, start, end)] == lines


@pytest.mark.parametrize(
    ("start", "count"),
    [
        (datetime(2024, 11, 15, 12, 0, tzinfo=UTC), 11),
        (datetime(2024, 11, 15, 12, 2, 3, 500000, tzinfo=UTC), 9),
        # the same instant written in another zone
        (datetime(2024, 11, 15, 13, 2, 3, 500000, tzinfo=timezone(timedelta(hours=1))), 9),
        (datetime(2024, 11, 15, 12, 3, tzinfo=UTC), 0),
    ],
)
def test_window_on_iso(start: datetime, count: int) -> None:
    assert len(within(parse_kernel_log(ISO.read_text()), start)) == count


# Constructed lines (no real sample in the fixture set): plain uptime stamps, journalctl -k,
# an NVSwitch SXID, an XID without pid. Built from the kernel's and driver's printk formats.
CONSTRUCTED_PLAIN = (
    "[  812.345678] NVRM: Xid (PCI:0000:3b:00): 79, pid=4242, name=python3, "
    "GPU has fallen off the bus.\n"
    "[  900.000001] NVRM: Xid (PCI:0000:3b:00): 13, Graphics SM Warp Exception on (GPC 0)\n"
)
CONSTRUCTED_JOURNAL = (
    "Nov 15 12:02:03 gpu-node-07 kernel: nvidia-nvswitch2: SXid (PCI:0000:87:00.0): 20034, "
    "Fatal, Link 30 LTSSM Fault Up\n"
)


def test_constructed_plain_uptime_and_window_from_boot_time() -> None:
    fell_off, warp = parse_kernel_log(CONSTRUCTED_PLAIN)
    assert (fell_off.code, fell_off.bus_id, fell_off.uptime_s) == (
        79,
        "00000000:3B:00.0",
        812.345678,
    )
    assert (fell_off.pid, fell_off.process) == (4242, "python3")
    assert fell_off.message == "GPU has fallen off the bus."
    assert (warp.code, warp.pid, warp.message) == (
        13,
        None,
        "Graphics SM Warp Exception on (GPC 0)",
    )
    boot = datetime(2026, 1, 1, tzinfo=UTC)
    assert event_time(fell_off, boot) == boot + timedelta(seconds=812.345678)
    assert within([fell_off, warp], boot + timedelta(seconds=850), boot_time=boot) == [warp]
    # Without a boot time the uptime cannot be placed: kept, never hidden.
    assert within([fell_off], boot + timedelta(days=1)) == [fell_off]


def test_constructed_journal_sxid() -> None:
    (event,) = parse_kernel_log(CONSTRUCTED_JOURNAL)
    assert event == XidEvent(
        kind="sxid",
        line=1,
        code=20034,
        pci="PCI:0000:87:00.0",
        bus_id="00000000:87:00.0",
        message="Link 30 LTSSM Fault Up",
        stamp="Nov 15 12:02:03",
        device="nvidia-nvswitch2",
        severity="Fatal",
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "NVRM: Xid",
        "NVRM: Xid (PCI:0000:19:00): x, y",
        "[Sun Feb 31 99:99:99 2025] NVRM: nothing",
    ],
)
def test_nothing_recognised(text: str) -> None:
    assert parse_kernel_log(text) == []
