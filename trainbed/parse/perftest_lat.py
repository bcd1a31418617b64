"""Parse perftest latency output: `ib_write_lat` (and its siblings `ib_read_lat`, `ib_send_lat`,
which print the same table).

Contract: `parse_ib_write_lat(text)` returns `{"runs": [LatRun, ...]}` and never raises. Times
are in microseconds, as perftest prints them (`[usec]`); a table in cycles (`-C`) or any other
unit is an error, not a guess. A run is `ok` when it printed at least one result row and no
failure. perftest's table (`REPORT_FMT_LAT`, since 4.x)::

     #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec]
     2       1000          1.42           1.93         1.47                1.47             0.00            1.57                    1.93

Older builds print fewer columns (no percentiles) and duration mode (`-D`) prints
`t_avg[usec]  tps average`: the columns are read by name, so those give rows whose missing
figures are None. The run's summary (``typical_us``, ``p99_us``, ``p999_us``) is the row of the
smallest message size: latency is a small-message figure (2 B by default).

A file holds several runs when tests were printed one after the other: a new run starts at an
echoed `ib_*_lat` command line or at a second test banner once the current run has results or
errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypedDict

from trainbed.parse._lines import lines, to_float, to_int
from trainbed.parse.perftest import (
    _RE_DEVICE,
    _RE_FAILURE,
    _RE_HEADER,
    _RE_LINK,
    _RE_REMOTE,
    _RE_ROW,
    _RE_WAITING,
    add_errors,
    is_warning,
)


class LatRow(TypedDict):
    """One result row (one message size); a figure the table did not have is None."""

    bytes: int
    iterations: int
    t_min_us: float | None
    t_max_us: float | None
    t_typical_us: float | None
    t_avg_us: float | None
    t_stdev_us: float | None
    p99_us: float | None
    p999_us: float | None


class LatRun(TypedDict):
    """One latency run as seen from one side."""

    ok: bool
    errors: list[str]
    warnings: list[str]
    test: str | None  # the banner, e.g. "RDMA_Write Latency Test"
    side: str | None  # "client" | "server"
    device: str | None
    link_type: str | None
    unit: str | None
    rows: list[LatRow]
    bytes: int | None  # the message size of the summary figures
    typical_us: float | None
    p99_us: float | None
    p999_us: float | None


#: Column name in perftest's header → row key.
_COLUMNS = {
    "#bytes": "bytes",
    "#iterations": "iterations",
    "t_min": "t_min_us",
    "t_max": "t_max_us",
    "t_typical": "t_typical_us",
    "t_avg": "t_avg_us",
    "t_stdev": "t_stdev_us",
    "99% percentile": "p99_us",
    "99.9% percentile": "p999_us",
    "tps average": "tps",
}
_TIME_KEYS = ("t_min_us", "t_max_us", "t_typical_us", "t_avg_us", "t_stdev_us", "p99_us", "p999_us")

_RE_BANNER = re.compile(r"^\s*(\S+(?: \S+)*? Latency Test)\s*$")
_RE_COMMAND = re.compile(r"(?:^|[\s#$/])ib_\w+_lat(?:\s|$)")
_RE_COLUMN = re.compile(
    r"(#bytes|#iterations|t_[a-z]+|99(?:\.9)?% percentile|tps average)(?:\[([^\]]*)\])?"
)


@dataclass
class _Run:
    test: str | None = None
    waiting: bool = False
    remote: bool = False
    device: str | None = None
    link_type: str | None = None
    columns: list[tuple[str, str | None]] = field(default_factory=list)  # (key, unit)
    rows: list[LatRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def started(self) -> bool:
        return bool(self.test or self.waiting or self.columns or self.rows or self.errors)


def parse_ib_write_lat(text: str) -> dict[str, list[LatRun]]:
    """Parse the stdout/stderr of one side of `ib_write_lat` (any perftest version)."""
    runs = [_Run()]
    for line in lines(text):
        run = runs[-1]
        new_test = _RE_BANNER.match(line.text) and (run.test or run.rows or run.errors)
        if run.started() and (new_test or _RE_COMMAND.search(line.text)):
            run = _Run()
            runs.append(run)
        _read(run, line.number, line.text)
    finished = [_finish(run) for run in runs if run.started()]
    if not finished:
        empty = _finish(_Run())
        empty["errors"] = ["no ib_write_lat output found"]
        finished = [empty]
    return {"runs": finished}


def _read(run: _Run, number: int, text: str) -> None:
    """Fold one line into `run`."""
    if not text.strip():
        return
    if match := _RE_BANNER.match(text):
        run.test = match.group(1)
    elif _RE_WAITING.search(text):
        run.waiting = True
    elif _RE_HEADER.match(text):
        run.columns = [(_COLUMNS.get(name, name), unit) for name, unit in _RE_COLUMN.findall(text)]
    elif _RE_ROW.match(text) and run.columns:
        row = _row(text.split(), run.columns)
        if row is None:
            run.warnings.append(f"line {number}: unreadable result row: {text.strip()}")
        else:
            run.rows.append(row)
    elif _RE_REMOTE.match(text):
        run.remote = True
    elif _RE_FAILURE.search(text):
        run.remote = run.remote or "connect to" in text  # only a client connects
        add_errors(run.errors, text)
    elif is_warning(text):
        run.warnings.append(text.strip())
    else:
        if (match := _RE_DEVICE.search(text)) and run.device is None:
            run.device = match.group(1)
        if (match := _RE_LINK.search(text)) and run.link_type is None:
            run.link_type = match.group(1)


def _row(tokens: list[str], columns: list[tuple[str, str | None]]) -> LatRow | None:
    """One row by the header's column names, or None when the tokens do not fit it."""
    if len(tokens) < len(columns):
        return None
    values = {key: token for (key, _), token in zip(columns, tokens, strict=False)}
    size, iterations = to_int(values.get("bytes", "")), to_int(values.get("iterations", ""))
    times = {key: to_float(values[key]) if key in values else None for key in _TIME_KEYS}
    if (
        size is None
        or iterations is None
        or any(times[key] is None for key in _TIME_KEYS if key in values)
    ):
        return None
    return LatRow(bytes=size, iterations=iterations, **times)  # type: ignore[typeddict-item]


def _unit(run: _Run) -> str | None:
    return next((unit for key, unit in run.columns if key in _TIME_KEYS and unit), None)


def _finish(run: _Run) -> LatRun:
    errors = list(run.errors)
    unit = _unit(run)
    if run.columns and unit != "usec":
        errors.append(f"latency reported in {unit or 'no unit'}, not usec: run without -C")
    if not run.rows and not errors:
        errors.append("no results: the test did not run to completion")
    smallest = min(run.rows, key=lambda row: row["bytes"], default=None)
    side = "server" if run.waiting else "client" if run.remote else None
    return LatRun(
        ok=not errors,
        errors=errors,
        warnings=list(run.warnings),
        test=run.test,
        side=side,
        device=run.device,
        link_type=run.link_type,
        unit=unit,
        rows=run.rows,
        bytes=smallest["bytes"] if smallest else None,
        typical_us=smallest["t_typical_us"] if smallest else None,
        p99_us=smallest["p99_us"] if smallest else None,
        p999_us=smallest["p999_us"] if smallest else None,
    )
