"""Parser for NVIDIA XID and NVSwitch SXID events in the kernel log.

Reads ``dmesg`` (plain ``[  123.456789]``, ``dmesg -T`` ``[Sun Feb 23 16:24:18 2025]`` and
``dmesg --time-format iso`` ``2024-11-15T12:02:03,470068+00:00``) and ``journalctl -k``
short format (``Nov 15 12:02:03 host kernel: ...``). Only ``NVRM: Xid`` and ``SXid`` lines
are events; everything else (RPC-history tables, call traces, peermem noise) is skipped.
Never raises.

Real samples used by the tests: ``dmesg -T`` with XID 119 and ``--time-format iso`` with
XIDs 48/63/94. No real sample of an NVSwitch SXID line, of plain ``[uptime]`` stamps or of
``journalctl -k`` output is in the fixture set; those forms follow the kernel's and the
driver's printk formats (``nvidia-nvswitchN: SXid (PCI:0000:c8:00.0): 12028, Non-fatal, ...``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from trainbed.parse.nvidia_smi import normalize_bus_id

_PLAIN = re.compile(r"^\[\s*(?P<up>\d{1,12}\.\d+)\]\s?")
_CTIME = re.compile(r"^\[(?P<ctime>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4})\]\s?")
_ISO = re.compile(r"^(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[,.]\d+)?(?:[+-]\d\d:?\d\d|Z)?)\s")
_JOURNAL = re.compile(
    r"^(?P<short>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)\s+\S+\s+kernel:\s?(?:\[\s*(?P<up>\d{1,12}\.\d+)\]\s?)?"
)
_XID = re.compile(r"NVRM: Xid \((?P<pci>PCI:[0-9A-Fa-f:.]+)\): (?P<code>\d{1,9}),\s*(?P<rest>.*)$")
_SXID = re.compile(
    r"(?:(?P<device>nvidia-nvswitch\d+): )?SXid \((?P<pci>PCI:[0-9A-Fa-f:.]+)\): "
    r"(?P<code>\d{1,9}),\s*(?P<rest>.*)$"
)
_PID = re.compile(r"^pid=(?P<pid>'?<unknown>'?|\d{1,12}),\s*name=(?P<name>[^,]*),\s*(?P<msg>.*)$")
_SEVERITY = re.compile(r"^(?P<sev>Non-fatal|Fatal)\s*,\s*(?P<msg>.*)$")


@dataclass(frozen=True)
class XidEvent:
    """One ``NVRM: Xid`` (``kind="xid"``) or NVSwitch ``SXid`` (``kind="sxid"``) line.

    ``uptime_s`` is seconds since boot when the line carries it; ``time`` is ISO 8601 when the
    line carries a wall-clock date (with offset for ``--time-format iso``, without for
    ``dmesg -T``, which prints local time); ``stamp`` is the timestamp as printed.
    ``pci`` is the device as the driver prints it (``PCI:0000:9b:00``), ``bus_id`` the same in
    nvidia-smi's form (``00000000:9B:00.0``). ``pid``/``process`` are ``None`` when absent or
    printed as ``<unknown>``. ``severity`` is ``Fatal``/``Non-fatal`` for SXIDs.
    """

    kind: str
    line: int
    code: int
    pci: str
    bus_id: str
    message: str
    stamp: str | None = None
    uptime_s: float | None = None
    time: str | None = None
    pid: int | None = None
    process: str | None = None
    device: str | None = None
    severity: str | None = None


def _bus_id(pci: str) -> str:
    address = pci.removeprefix("PCI:")
    if re.fullmatch(r"[0-9A-Fa-f]+:[0-9A-Fa-f]+:[0-9A-Fa-f]+", address):
        address += ".0"  # the driver drops the function number of a GPU
    return normalize_bus_id(address)


def _stamp(line: str) -> tuple[str | None, float | None, str | None, str]:
    """(stamp as printed, uptime, ISO time, rest of the line)."""
    m = _PLAIN.match(line)
    if m:
        return m["up"], float(m["up"]), None, line[m.end() :]
    m = _CTIME.match(line)
    if m:
        try:
            when = datetime.strptime(" ".join(m["ctime"].split()), "%a %b %d %H:%M:%S %Y")
        except ValueError:
            return m["ctime"], None, None, line[m.end() :]
        return m["ctime"], None, when.isoformat(), line[m.end() :]
    m = _ISO.match(line)
    if m:
        try:
            iso = datetime.fromisoformat(m["iso"].replace(",", ".")).isoformat()
        except ValueError:
            iso = None
        return m["iso"], None, iso, line[m.end() :]
    m = _JOURNAL.match(line)
    if m:  # the short format has no year: keep the stamp, leave the time unknown
        up = float(m["up"]) if m["up"] else None
        return m["short"], up, None, line[m.end() :]
    return None, None, None, line


def parse_kernel_log(text: str) -> list[XidEvent]:
    """XID and SXID events in log order."""
    events: list[XidEvent] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if "Xid" not in raw:  # also covers "SXid"
            continue
        stamp, uptime, iso, rest = _stamp(raw.rstrip())
        xid = _XID.search(rest)
        sxid = None if xid else _SXID.search(rest)
        match = xid or sxid
        if match is None:
            continue
        message, pid, process, severity = match["rest"].strip(), None, None, None
        if xid:
            p = _PID.match(message)
            if p:
                pid = int(p["pid"]) if p["pid"].isdigit() else None
                name = p["name"].strip()
                process = None if name in ("", "<unknown>") else name
                message = p["msg"].strip()
        else:
            s = _SEVERITY.match(message)
            if s:
                severity, message = s["sev"], s["msg"].strip()
        events.append(
            XidEvent(
                kind="xid" if xid else "sxid",
                line=number,
                code=int(match["code"]),
                pci=match["pci"],
                bus_id=_bus_id(match["pci"]),
                message=message,
                stamp=stamp,
                uptime_s=uptime,
                time=iso,
                pid=pid,
                process=process,
                device=sxid["device"] if sxid else None,
                severity=severity,
            )
        )
    return events


def event_time(event: XidEvent, boot_time: datetime | None = None) -> datetime | None:
    """Wall-clock time of `event`: its printed date, else ``boot_time`` + uptime, else None."""
    if event.time is not None:
        return datetime.fromisoformat(event.time)
    if event.uptime_s is not None and boot_time is not None:
        try:
            return boot_time + timedelta(seconds=event.uptime_s)
        except OverflowError:
            return None
    return None


def within(
    events: Iterable[XidEvent],
    start: datetime,
    end: datetime | None = None,
    boot_time: datetime | None = None,
) -> list[XidEvent]:
    """The events at or after `start` (and not after `end`).

    An event whose time cannot be told (``journalctl`` short stamps, uptime without
    `boot_time`) is kept: a window must never hide a fault. A naive time (``dmesg -T`` prints
    local time) is read in `start`'s time zone.
    """
    kept = []
    for event in events:
        when = event_time(event, boot_time)
        if when is None:
            kept.append(event)
            continue
        if not _after(when, start) or (end is not None and _after(when, end, strict=True)):
            continue
        kept.append(event)
    return kept


def _after(when: datetime, bound: datetime, strict: bool = False) -> bool:
    """``when >= bound`` (``>`` if `strict`); a naive side is read in the other's zone."""
    if (when.tzinfo is None) != (bound.tzinfo is None):
        if when.tzinfo is None:
            when = when.replace(tzinfo=bound.tzinfo)
        else:
            bound = bound.replace(tzinfo=when.tzinfo)
    return when > bound if strict else when >= bound
