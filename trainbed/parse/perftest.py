"""Parse perftest `ib_write_bw` output (client or server side).

Contract: `parse_ib_write_bw(text)` returns `{"runs": [Run, ...]}` and never raises. Every bandwidth
is in Gb/s (10^9 bit/s): perftest's `MB/sec` (and `MiB/sec`, its name since 24.07) is 2^20 bytes/s,
`Gb/sec` (`--report_gbits`) is already Gb/s. A run is `ok` when it printed at least one result row
and no connection or other failure.

A file holds several runs when several tests were printed one after the other: a new run starts at
an echoed `ib_write_bw` command line, at a second test banner (`RDMA_Write BW Test`) or one after a
failure, and at any start-of-test line (the server's "Waiting for client" box, the duration-mode
warning, a failure) once the current run has results.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypedDict

from trainbed.parse._lines import lines, to_float, to_int


class Row(TypedDict):
    """One result row (one message size)."""

    bytes: int
    iterations: int
    bw_peak_gbps: float | None  # None when perftest did not measure it (0.00 under -D)
    bw_avg_gbps: float
    msg_rate_mpps: float | None


class Run(TypedDict):
    """One ib_write_bw run as seen from one side."""

    ok: bool
    errors: list[str]
    warnings: list[str]
    side: str | None  # "client" | "server"
    device: str | None
    link_type: str | None
    transport: str | None
    qps: int | None
    duration_mode: bool
    unit: str | None  # the unit perftest printed the bandwidth in
    rows: list[Row]
    bw_avg_gbps: float | None  # average bandwidth of the largest message size


# Bandwidth units perftest prints, to Gb/s. MB/sec is 2^20 bytes/s (perftest's own definition).
_TO_GBPS = {
    "Gb/sec": 1.0,
    "MB/sec": 8 * 2**20 / 1e9,
    "MiB/sec": 8 * 2**20 / 1e9,
}

_RE_BANNER = re.compile(r"^\s*RDMA_Write(?: Bidirectional)? BW Test\s*$")
_RE_WAITING = re.compile(r"Waiting for client (?:rdma_cm QP )?to connect")
_RE_COMMAND = re.compile(r"(?:^|[\s#$/])ib_write_bw(?:\s|$)")
_RE_NO_PEAK = re.compile(r"BW peak won't be measured")
_RE_DEVICE = re.compile(r"\bDevice\s*:\s*(\S+)")
_RE_LINK = re.compile(r"\bLink type\s*:\s*(\S+)")
_RE_TRANSPORT = re.compile(r"\bTransport type\s*:\s*(\S+)")
_RE_QPS = re.compile(r"\bNumber of qps\s*:\s*([0-9]{1,9})")
_RE_HEADER = re.compile(r"^\s*#bytes\s+#iterations\s")
_RE_COLUMN = re.compile(
    r"#bytes|#iterations|BW peak\[[^\]]*\]|BW average\[[^\]]*\]|MsgRate\[[^\]]*\]"
)
_RE_UNIT = re.compile(r"\[([^\]]*)\]")
_RE_ROW = re.compile(r"^\s*\d+\s+\d+\s+[\d.]")
_RE_REMOTE = re.compile(r"^\s*remote address:")
# ``Port number 1 state is Init`` (perftest_parameters.c ``set_link_layer``: the port is not
# Active) and ``Local lid 0x0 detected`` are failures too, and the most telling ones.
_RE_FAILURE = re.compile(
    r"Couldn't|Unable to|[Ff]ailed|\bERROR\b|\b[Ee]rror\b"
    r"|No IB devices found|IB device \S+ not found"
    r"|Port number \d+ state is|Local lid 0x0 detected"
)
# perftest sometimes prints two messages on one line (a missing "\n", perftest PR 228).
_RE_SECOND_MESSAGE = re.compile(r"(?<=\S) (?=(?:Unable to|Couldn't|Failed to) )")


@dataclass
class _Builder:
    saw_banner: bool = False
    waiting: bool = False
    remote: bool = False
    connect_attempt: bool = False
    duration_mode: bool = False
    device: str | None = None
    link_type: str | None = None
    transport: str | None = None
    qps: int | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_ib_write_bw(text: str) -> dict[str, list[Run]]:
    """Parse the stdout/stderr of one side of `ib_write_bw` (any perftest version)."""
    runs: list[_Builder] = [_Builder()]
    for line in lines(text):
        run = runs[-1]
        if _starts_new_run(run, line.text):
            run = _Builder()
            runs.append(run)
        _read_line(run, line.number, line.text)
    finished = [_finish(run) for run in runs if _has_content(run)]
    if not finished:
        empty = _finish(_Builder())
        empty["errors"] = ["no ib_write_bw output found"]
        empty["ok"] = False
        finished = [empty]
    return {"runs": finished}


def _starts_new_run(run: _Builder, text: str) -> bool:
    if not _has_content(run):
        return False
    if _RE_BANNER.match(text):
        return run.saw_banner or bool(run.rows or run.errors)
    if _RE_COMMAND.search(text):
        return True
    if not run.rows:
        return False
    return bool(_RE_WAITING.search(text) or _RE_NO_PEAK.search(text) or _RE_FAILURE.search(text))


def _read_line(run: _Builder, number: int, text: str) -> None:
    """Fold one line into `run`."""
    if not text.strip():
        return
    if _RE_BANNER.match(text):
        run.saw_banner = True
    elif _RE_WAITING.search(text):
        run.waiting = True
    elif _RE_NO_PEAK.search(text):
        run.duration_mode = True
    elif _RE_HEADER.match(text):
        run.columns = _RE_COLUMN.findall(text)
    elif _RE_ROW.match(text) and run.columns:
        _read_row(run, number, text)
    elif _RE_REMOTE.match(text):
        run.remote = True
    elif _RE_FAILURE.search(text):
        run.connect_attempt = run.connect_attempt or "connect to" in text
        add_errors(run.errors, text)
    elif is_warning(text):
        run.warnings.append(text.strip())
    else:
        _read_setting(run, text)


def add_errors(errors: list[str], text: str) -> None:
    """The failure messages of one line (perftest may print two on one) not yet in ``errors``."""
    for message in _RE_SECOND_MESSAGE.split(text.strip()):
        if message not in errors:
            errors.append(message)


def is_warning(text: str) -> bool:
    """A perftest warning line (CPU frequency, ``WARNING: ...``): reported, never a failure."""
    return "CPU frequency" in text or text.lstrip().startswith("WARNING")


def _read_setting(run: _Builder, text: str) -> None:
    """Pick the settings perftest prints in its two-column banner block."""
    if (match := _RE_DEVICE.search(text)) and run.device is None:
        run.device = match.group(1)
    if (match := _RE_LINK.search(text)) and run.link_type is None:
        run.link_type = match.group(1)
    if (match := _RE_TRANSPORT.search(text)) and run.transport is None:
        run.transport = match.group(1)
    if (match := _RE_QPS.search(text)) and run.qps is None:
        run.qps = int(match.group(1))


def _read_row(run: _Builder, number: int, text: str) -> None:
    row = _parse_row(text.split(), run.columns)
    if row is None:
        run.warnings.append(f"line {number}: unreadable result row: {text.strip()}")
    else:
        run.rows.append(row)


def _parse_row(tokens: list[str], columns: list[str]) -> Row | None:
    """One result row in Gb/s, or None when the tokens do not fit the column header."""
    if len(tokens) < len(columns):
        return None
    values = dict(zip(columns, tokens, strict=False))
    size = to_int(values.get("#bytes", ""))
    iterations = to_int(values.get("#iterations", ""))
    peak_column = next((c for c in columns if c.startswith("BW peak")), None)
    avg_column = next((c for c in columns if c.startswith("BW average")), None)
    rate_column = next((c for c in columns if c.startswith("MsgRate")), None)
    average = _gbps(values[avg_column], avg_column) if avg_column else None
    if size is None or iterations is None or average is None:
        return None
    peak = _gbps(values[peak_column], peak_column) if peak_column else None
    return Row(
        bytes=size,
        iterations=iterations,
        # 0.00 means "not measured" (duration mode, -D), not a zero bandwidth.
        bw_peak_gbps=peak or None,
        bw_avg_gbps=average,
        msg_rate_mpps=to_float(values[rate_column]) if rate_column else None,
    )


def _gbps(token: str, column: str) -> float | None:
    unit = _RE_UNIT.search(column)
    factor = _TO_GBPS.get(unit.group(1)) if unit else None
    value = to_float(token)
    if factor is None or value is None:
        return None
    return value * factor


def _has_content(run: _Builder) -> bool:
    return bool(
        run.rows or run.errors or run.saw_banner or run.waiting or run.columns or run.device
    )


def _side(run: _Builder) -> str | None:
    if run.waiting:
        return "server"
    if run.remote or run.connect_attempt:
        return "client"
    return None


def _unit(run: _Builder) -> str | None:
    for column in run.columns:
        if column.startswith("BW average") and (unit := _RE_UNIT.search(column)):
            return unit.group(1)
    return None


def _finish(run: _Builder) -> Run:
    errors = list(run.errors)
    unit = _unit(run)
    if run.columns and unit not in _TO_GBPS:
        errors.append(f"unknown bandwidth unit: {unit}")
    if not run.rows and not errors:
        errors.append("no results: the test did not run to completion")
    # The last of the largest messages: with --run_infinitely the same size repeats.
    largest = max(reversed(run.rows), key=lambda row: row["bytes"], default=None)
    return Run(
        ok=not errors,
        errors=errors,
        warnings=list(run.warnings),
        side=_side(run),
        device=run.device,
        link_type=run.link_type,
        transport=run.transport,
        qps=run.qps,
        duration_mode=run.duration_mode,
        unit=unit,
        rows=run.rows,
        bw_avg_gbps=largest["bw_avg_gbps"] if largest else None,
    )
