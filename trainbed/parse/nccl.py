"""Parse nccl-tests output (`all_reduce_perf` and friends): text tables and `-J` JSON files.

Contract: `parse_nccl(text)` returns `{"runs": [Run, ...]}`, one `Run` per benchmark run found in
the text, and never raises. A run is `ok` only when it finished (footer present), reported no wrong
elements, no out-of-bounds values, and printed no CUDA/NCCL failure.

How a file with several runs is split: lines are first grouped by launcher prefix (`srun -l`,
`mpirun --tag-output`); within a group, each line kind belongs to one phase of a run (version,
"Collective test starting", nThread, devices, table header, rows, footer). A line goes to the oldest
still-open run that has not yet passed that phase, otherwise it opens a new run. Repeated lines are
matched more closely: a device line goes to the oldest run that has not listed that rank yet, and a
result row to the oldest run whose last row has a smaller size (message sizes always grow within a
run). That separates runs printed one after the other as well as the interleaved output of several
non-MPI tasks sharing one stdout; for the latter, which footer belongs to which run cannot be told
from the text, and footers are given out in order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from trainbed.parse._lines import Line, lines, to_float, to_int


class Placement(TypedDict):
    """Timing of one placement (out-of-place or in-place) of one message size."""

    time_us: float
    algbw_gbs: float
    busbw_gbs: float
    wrong: int | None  # `#wrong` column; None for the old `error` layout and for `N/A`
    error: float | None  # old (<= 2.11) `error` column: max numeric error, not a count


class Row(TypedDict):
    """One line of the results table."""

    size_bytes: int
    count: int
    type: str
    redop: str
    root: int | None
    out_of_place: Placement | None
    in_place: Placement | None


class Run(TypedDict):
    """One benchmark run."""

    ok: bool
    errors: list[str]
    warnings: list[str]
    version: str | None
    nccl_tests_version: str | None
    nccl_version: str | None
    collective: str | None
    stream: str
    ranks: int | None
    rows: list[Row]
    peak_busbw_gbs: float | None
    avg_busbw_gbs: float | None
    wrong_total: int
    out_of_bounds: int | None


# Phases of a text run, in the order nccl-tests prints them.
_VERSION, _STARTING, _NTHREAD, _DEVICES, _HEADER, _ROWS, _OOB, _AVG, _CONCLUDED = range(9)

# Captured counts are bounded so int() of them cannot fail on absurd input.
_RE_VERSION = re.compile(r"#\s*nccl-tests version (\S+)(?:.*\bnccl-library=([0-9]{1,9}))?")
_RE_STARTING = re.compile(r"#\s*Collective test starting:\s*(\S+)")
_RE_NTHREAD = re.compile(r"#\s*nThread\s+\d+\s+nGpus\s+\d+")
_RE_USING = re.compile(r"#\s*Using devices")
_RE_RANK = re.compile(r"#\s+Rank\s+([0-9]{1,9})\s+(?:Group\s+\d+\s+)?Pid\s+\d+\s+on\s")
_RE_NCCL_VERSION = re.compile(r"\bNCCL version (\S+)")
_RE_OOB = re.compile(r"#?\s*Out of bounds values\s*:\s*([0-9]{1,18})\s*(\w*)")
_RE_AVG = re.compile(r"#?\s*Avg bus bandwidth\s*:\s*(\S+)\s*(\w*)")
_RE_CONCLUDED = re.compile(r"#\s*Collective test concluded")
_RE_ROW = re.compile(r"\s*\d+\s+\d+\s+\S")
_RE_ELISION = re.compile(r"\s*(?:\.\.\.|…)\s*")
_RE_NCCL_WARN = re.compile(r"\bNCCL WARN\b\s*(.*)")
_RE_WARN_IS_FAILURE = re.compile(r"(?i)fail|error|abort|timed? ?out")
_RE_FATAL = re.compile(
    r"Test (?:NCCL |CUDA )?failure"
    r"|Invalid number of GPUs"
    r"|^#\s*error:\s*\S"
    r"|MPI_ABORT was invoked"
    r"|exited on signal"
    r"|^srun: error: .*(?:exit code [1-9]|Killed|Terminated|Aborted)"
    r"|Segmentation fault"
)

_TIME_COLUMNS = ("time", "cputime")


@dataclass
class _Layout:
    """Where each field sits in a row, read from the column header."""

    fixed: dict[str, int]  # size, count, type, redop, root -> token index
    placements: list[dict[str, int]]  # per placement: time, algbw, busbw, wrong|error -> index
    width: int  # tokens in a full row (without a trailing timestamp)


@dataclass
class _Builder:
    """A run being assembled line by line."""

    stream: str
    phase: int = -1
    closed: bool = False  # over (failed, or a later run started): takes no more table lines
    touched: int = 0  # number of the last line routed here
    nccl_tests_version: str | None = None
    nccl_version: str | None = None
    collective: str | None = None
    ranks: set[int] = field(default_factory=set)
    layout: _Layout | None = None
    rows: list[Row] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    out_of_bounds: int | None = None
    avg_busbw: float | None = None
    avg_failed: bool = False

    def error(self, message: str) -> None:
        if message not in self.errors:
            self.errors.append(message)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


def parse_nccl(text: str) -> dict[str, list[Run]]:
    """Parse nccl-tests stdout (any version, any launcher prefix) or a `-J` JSON report."""
    if text.lstrip().startswith("{"):
        return {"runs": _parse_json(text)}
    builders = _parse_text(lines(text))
    if not builders:
        builders = [_Builder(stream="")]
        builders[0].error("no nccl-tests output found")
    return {"runs": [_finish(b) for b in builders]}


# --- text ------------------------------------------------------------------------------------


def _parse_text(all_lines: list[Line]) -> list[_Builder]:
    runs: list[_Builder] = []
    for line in all_lines:
        _dispatch(runs, line)
    return runs


def _dispatch(runs: list[_Builder], line: Line) -> None:
    """Route one line to the run it belongs to (opening a run when none fits)."""
    text = line.text
    if not text.strip():
        return
    if match := _RE_VERSION.match(text):
        run = _route(runs, line, _VERSION)
        run.nccl_tests_version = match.group(1)
        if match.group(2) and run.nccl_version is None:
            run.nccl_version = _decode_nccl_version(int(match.group(2)))
    elif match := _RE_STARTING.match(text):
        _route(runs, line, _STARTING).collective = match.group(1)
    elif _RE_NTHREAD.match(text):
        _route(runs, line, _NTHREAD)
    elif _RE_USING.match(text):
        _route(runs, line, _DEVICES)
    elif match := _RE_RANK.match(text):
        rank = int(match.group(1))
        _route(runs, line, _DEVICES, lambda r: rank not in r.ranks).ranks.add(rank)
    elif (layout := _header_layout(text)) is not None:
        _route(runs, line, _HEADER).layout = layout
    elif match := _RE_OOB.match(text):
        run = _route(runs, line, _OOB, after=_HEADER)
        run.out_of_bounds = int(match.group(1))
    elif match := _RE_AVG.match(text):
        run = _route(runs, line, _AVG, after=_HEADER)
        run.avg_busbw = to_float(match.group(1))
        run.avg_failed = match.group(2) == "FAILED"
    elif _RE_CONCLUDED.match(text):
        # A lone "concluded" line whose run is over (or never started) is of no use: dropped.
        if (over := _find(runs, line, _CONCLUDED, after=_OOB)) is not None:
            _enter(runs, over, _CONCLUDED, line)
    elif not text.lstrip().startswith("#") and _RE_ROW.match(text):
        _add_row(runs, line)
    else:
        _note(runs, line)


def _route(
    runs: list[_Builder],
    line: Line,
    phase: int,
    accepts: Callable[[_Builder], bool] | None = None,
    after: int = -1,
) -> _Builder:
    """The run that takes a line of `phase` (see `_find`), or a new run when none can."""
    run = _find(runs, line, phase, accepts, after)
    if run is None:
        run = _Builder(stream=line.stream)
        runs.append(run)
    _enter(runs, run, phase, line)
    return run


def _find(
    runs: list[_Builder],
    line: Line,
    phase: int,
    accepts: Callable[[_Builder], bool] | None = None,
    after: int = -1,
) -> _Builder | None:
    """The oldest open run of the line's stream that can take a line of `phase`.

    Lines that appear once per run (`accepts` is None) need a run still before that phase (and at
    or past `after`); repeated lines (devices, rows) may also go to a run already in that phase if
    `accepts` says so.
    """
    for run in runs:
        if run.closed or run.stream != line.stream or run.phase < after:
            continue
        if run.phase < phase or (accepts is not None and run.phase == phase and accepts(run)):
            return run
    return None


def _enter(runs: list[_Builder], run: _Builder, phase: int, line: Line) -> None:
    """Move `run` to `phase`; runs of the same stream that printed their footer are now over."""
    run.phase, run.touched = phase, line.number
    for other in runs:
        if other is not run and other.stream == run.stream and other.phase >= _AVG:
            other.closed = True


def _add_row(runs: list[_Builder], line: Line) -> None:
    tokens = line.text.split()
    size = to_int(tokens[0])
    if size is None:
        _note(runs, line)
        return
    run = _route(runs, line, _ROWS, lambda r: not r.rows or r.rows[-1]["size_bytes"] < size)
    layout = run.layout or _guess_layout(len(tokens))
    row = _parse_row(tokens, layout) if layout else None
    if row is None:
        run.warn(f"line {line.number}: unreadable result row: {line.text.strip()}")
    else:
        run.rows.append(row)


def _note(runs: list[_Builder], line: Line) -> None:
    """Handle a line outside the table structure: version, failures, warnings, elisions."""
    text = line.text.strip()
    if match := _RE_NCCL_VERSION.search(text):
        run = _latest(runs, line.stream)
        if run is not None and run.nccl_version is None:
            run.nccl_version = match.group(1)
        return
    if _RE_ELISION.fullmatch(text):
        run = _latest(runs, line.stream)
        if run is not None:
            run.warn(f"line {line.number}: output elided ('...'), rows may be missing")
        return
    warn = _RE_NCCL_WARN.search(text)
    fatal = _RE_FATAL.search(text) is not None
    if warn and not _RE_WARN_IS_FAILURE.search(warn.group(1)) and not fatal:
        run = _latest(runs, line.stream)
        if run is not None:
            run.warn(f"NCCL WARN {warn.group(1)}")
        return
    if fatal or warn:
        run = _latest(runs, line.stream)
        if run is None:
            run = _Builder(stream=line.stream)
            runs.append(run)
        run.error(text)
        run.touched = line.number
        run.closed = run.closed or fatal


def _latest(runs: list[_Builder], stream: str) -> _Builder | None:
    """The run of `stream` that took the last line, else the run of any stream that did."""
    same = [r for r in runs if r.stream == stream]
    return max(same or runs, key=lambda r: r.touched, default=None)


# --- table layout ----------------------------------------------------------------------------


def _header_layout(text: str) -> _Layout | None:
    """The layout named by a column header line (`#  size  count  type ...`), else None."""
    tokens = text.lstrip("#").split()
    if tokens[:2] != ["size", "count"]:
        return None
    if tokens and tokens[-1] == "timestamp":
        tokens = tokens[:-1]
    fixed: dict[str, int] = {}
    placements: list[dict[str, int]] = []
    for index, name in enumerate(tokens):
        if name in _TIME_COLUMNS:
            placements.append({"time": index})
        elif not placements:
            fixed[name] = index
        elif name in ("algbw", "busbw", "error"):
            placements[-1][name] = index
        elif name == "#wrong":
            placements[-1]["wrong"] = index
    usable = [p for p in placements if {"time", "algbw", "busbw"} <= p.keys()]
    if "type" not in fixed or not usable:
        return None
    return _Layout(fixed=fixed, placements=usable, width=len(tokens))


def _guess_layout(ntokens: int) -> _Layout | None:
    """A layout from the token count alone, for rows printed without a column header."""
    names = {
        13: "size count type redop root time algbw busbw #wrong time algbw busbw #wrong",
        12: "size count type redop time algbw busbw error time algbw busbw error",
        11: "size count type time algbw busbw error time algbw busbw error",
    }.get(ntokens)
    return _header_layout(names) if names else None


def _parse_row(tokens: list[str], layout: _Layout) -> Row | None:
    """One result row, or None when the tokens do not fit the layout."""
    if len(tokens) < layout.width:
        return None
    placements = [_placement(tokens, columns) for columns in layout.placements]
    size = to_int(tokens[layout.fixed["size"]])
    count = to_int(tokens[layout.fixed["count"]]) if "count" in layout.fixed else None
    if size is None or count is None or any(p is None for p in placements):
        return None
    root = to_int(tokens[layout.fixed["root"]]) if "root" in layout.fixed else None
    # Layouts without a redop column (old all_gather) are for collectives without a reduction;
    # newer nccl-tests print "none" for those.
    redop = tokens[layout.fixed["redop"]] if "redop" in layout.fixed else "none"
    return Row(
        size_bytes=size,
        count=count,
        type=tokens[layout.fixed["type"]],
        redop=redop,
        root=root,
        out_of_place=placements[0],
        in_place=placements[1] if len(placements) > 1 else None,
    )


def _placement(tokens: list[str], columns: dict[str, int]) -> Placement | None:
    time_us = to_float(tokens[columns["time"]])
    algbw = to_float(tokens[columns["algbw"]])
    busbw = to_float(tokens[columns["busbw"]])
    if time_us is None or algbw is None or busbw is None:
        return None
    wrong = to_int(tokens[columns["wrong"]]) if "wrong" in columns else None
    if "wrong" in columns and wrong is None and tokens[columns["wrong"]] != "N/A":
        return None
    error = to_float(tokens[columns["error"]]) if "error" in columns else None
    return Placement(time_us=time_us, algbw_gbs=algbw, busbw_gbs=busbw, wrong=wrong, error=error)


# --- results ---------------------------------------------------------------------------------


def _finish(run: _Builder) -> Run:
    """Turn a builder into the result contract, judging whether the run is ok."""
    errors = list(run.errors)
    wrong_total = sum(_wrong_counts(run.rows))
    if wrong_total:
        bad = sum(1 for n in _wrong_counts(run.rows) if n)
        errors.append(f"{wrong_total} wrong elements (#wrong) in {bad} results")
    if run.out_of_bounds:
        errors.append(f"out of bounds values: {run.out_of_bounds} FAILED")
    if run.avg_failed:
        errors.append(f"average bus bandwidth {run.avg_busbw} FAILED the -G check")
    if 0 <= run.phase < _AVG:
        errors.append(_unfinished(run))
    return Run(
        ok=not errors,
        errors=errors,
        warnings=list(run.warnings),
        version=run.nccl_tests_version or run.nccl_version,
        nccl_tests_version=run.nccl_tests_version,
        nccl_version=run.nccl_version,
        collective=run.collective,
        stream=run.stream,
        ranks=len(run.ranks) or None,
        rows=run.rows,
        peak_busbw_gbs=_peak(run.rows),
        avg_busbw_gbs=run.avg_busbw,
        wrong_total=wrong_total,
        out_of_bounds=run.out_of_bounds,
    )


def _unfinished(run: _Builder) -> str:
    if run.rows:
        return f"no footer: run did not finish (output ends after {len(run.rows)} result rows)"
    if run.layout is not None:
        return "no result rows: run failed after the table header"
    return "no result table: output ends before the benchmark started"


def _wrong_counts(rows: list[Row]) -> list[int]:
    return [
        p["wrong"]
        for row in rows
        for p in (row["out_of_place"], row["in_place"])
        if p is not None and p["wrong"] is not None
    ]


def _peak(rows: list[Row]) -> float | None:
    values = [
        p["busbw_gbs"]
        for row in rows
        for p in (row["out_of_place"], row["in_place"])
        if p is not None
    ]
    return max(values, default=None)


def _decode_nccl_version(code: int) -> str:
    """NCCL_VERSION_CODE as "major.minor.patch" (X*10000+Y*100+Z since 2.9, X*1000+... before)."""
    if code >= 10000:
        return f"{code // 10000}.{code // 100 % 100}.{code % 100}"
    return f"{code // 1000}.{code // 100 % 10}.{code % 100}"


# --- JSON (-J) -------------------------------------------------------------------------------
#
# Structure as written by nccl-tests' src/util.cu (JSON_FILE_VERSION 1 and 2, nccl-tests >= 2.18.5):
#   {"version": 2, "start_time": str, "args": [str], "env": [str], "nccl_version": int (code),
#    "config": {"nthreads", "ngpus", ..., "devices": [{"rank", "group", "pid", "hostname", ...}]},
#    "results": [{"size", "count", "type", "redop", "root": "    -1" (a string, "%6i"),
#                 "out_of_place": {"time" | "cpu_time", "alg_bw", "bus_bw", "nwrong": float|null}
#                                 | null,
#                 "in_place": {...}, "actual_iterations", "experiment_name"}],
#    "out_of_bounds": {"count": int, "okay": "true"|"false"},
#    "average_bus_bandwidth": {"bandwidth": float, "okay": "true"|"false"|"unchecked"},
#    "errors": [str], "end_time": str}
# Booleans are written as the strings "true"/"false" and NaN as "nan". A run that crashes may
# leave the document unterminated; that reads as an unfinished run.


def _parse_json(text: str) -> list[Run]:
    decoder = json.JSONDecoder()
    runs: list[Run] = []
    position = 0
    while position < len(text):
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        try:
            document, position = decoder.raw_decode(text, position)
        except ValueError as exc:
            runs.append(_json_failure(f"unreadable nccl-tests JSON (cut off?): {exc}"))
            break
        runs.append(_json_run(document))
    return runs or [_json_failure("no nccl-tests output found")]


def _json_failure(message: str) -> Run:
    run = _Builder(stream="")
    run.error(message)
    return _finish(run)


def _json_run(document: Any) -> Run:
    if not isinstance(document, dict):
        return _json_failure("nccl-tests JSON: top level is not an object")
    run = _Builder(stream="")
    code = document.get("nccl_version")
    if isinstance(code, int) and not isinstance(code, bool) and code > 0:
        run.nccl_version = _decode_nccl_version(code)
    config = document.get("config")
    devices = config.get("devices") if isinstance(config, dict) else None
    if isinstance(devices, list):
        run.ranks = {i for i, _ in enumerate(devices)}
    results = document.get("results")
    for index, item in enumerate(results if isinstance(results, list) else []):
        row = _json_row(item)
        if row is None:
            run.warn(f"results[{index}]: unreadable result")
        else:
            run.rows.append(row)
    run.phase = _ROWS if run.rows else _DEVICES
    _json_footer(document, run)
    messages = document.get("errors")
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, str) and message.strip():
            run.error(message.strip())
    return _finish(run)


def _json_footer(document: dict[str, Any], run: _Builder) -> None:
    oob = document.get("out_of_bounds")
    avg = document.get("average_bus_bandwidth")
    if isinstance(oob, dict) and _json_int(oob.get("count")) is not None:
        run.out_of_bounds = _json_int(oob.get("count"))
    if isinstance(avg, dict):
        run.avg_busbw = _json_float(avg.get("bandwidth"))
        run.avg_failed = avg.get("okay") in ("false", False)
    if run.out_of_bounds is not None and run.avg_busbw is not None:
        run.phase = _AVG


def _json_row(item: Any) -> Row | None:
    if not isinstance(item, dict):
        return None
    size, count = _json_int(item.get("size")), _json_int(item.get("count"))
    root = item.get("root")
    out_of_place = _json_placement(item.get("out_of_place"))
    in_place = _json_placement(item.get("in_place"))
    if size is None or count is None or (out_of_place is None and in_place is None):
        return None
    return Row(
        size_bytes=size,
        count=count,
        type=str(item.get("type", "")),
        redop=str(item.get("redop", "none")),
        root=to_int(root.strip()) if isinstance(root, str) else _json_int(root),
        out_of_place=out_of_place,
        in_place=in_place,
    )


def _json_placement(value: Any) -> Placement | None:
    if not isinstance(value, dict):
        return None
    time_us = _json_float(value.get("time", value.get("cpu_time")))
    algbw, busbw = _json_float(value.get("alg_bw")), _json_float(value.get("bus_bw"))
    if time_us is None or algbw is None or busbw is None:
        return None
    nwrong = _json_float(value.get("nwrong"))
    wrong = int(nwrong) if nwrong is not None and nwrong.is_integer() else None
    return Placement(time_us=time_us, algbw_gbs=algbw, busbw_gbs=busbw, wrong=wrong, error=None)


def _json_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if result == result and abs(result) != float("inf") else None


def _json_int(value: Any) -> int | None:
    number = _json_float(value)
    return int(number) if number is not None and number.is_integer() else None
