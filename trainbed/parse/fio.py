"""fio's JSON output (`--output-format=json`, or `normal,json` which prints the normal report
before and after the document): the version, the global options, and per job what it read and
wrote.

fio writes ``"name" : value`` with a space before the colon and floats as ``0.000000``: plain
JSON. Only the first JSON document in the text is read; lines before it (the ``normal`` header,
``fio: ...`` warnings that stderr mixed in) are kept as ``notes``. Bandwidth is fio's own
``bw_bytes`` (bytes/s over the direction's runtime); ``runtime_ms`` 0 means the job did not do
that direction. Whether a figure is good enough is judged in :mod:`trainbed.verdicts.storage`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

DIRECTIONS = ("read", "write")


@dataclass(frozen=True, slots=True)
class Direction:
    """One direction (read or write) of one job, in fio's units."""

    io_bytes: int = 0
    bw_bytes: int = 0  # bytes/s
    runtime_ms: int = 0
    iops: float = 0.0
    total_ios: int = 0
    clat_mean_ns: float | None = None

    @property
    def done(self) -> bool:
        """Whether the job did any I/O in this direction."""
        return self.io_bytes > 0 and self.runtime_ms > 0


@dataclass(frozen=True, slots=True)
class FioJob:
    name: str
    groupid: int
    error: int  # fio's per-job error number, 0 when none
    read: Direction
    write: Direction
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FioRun:
    version: str | None
    timestamp: int | None
    global_options: dict[str, str]
    jobs: tuple[FioJob, ...]
    notes: tuple[str, ...] = ()  # non-blank lines before the JSON document
    error: str | None = None  # why no document could be read


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _direction(data: Any) -> Direction:
    if not isinstance(data, dict):
        return Direction()
    clat = data.get("clat_ns")
    mean = clat.get("mean") if isinstance(clat, dict) else None
    return Direction(
        io_bytes=_int(data.get("io_bytes")),
        bw_bytes=_int(data.get("bw_bytes")),
        runtime_ms=_int(data.get("runtime")),
        iops=_float(data.get("iops")),
        total_ios=_int(data.get("total_ios")),
        clat_mean_ns=_float(mean) if isinstance(mean, int | float) else None,
    )


def _options(data: Any) -> dict[str, str]:
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def _job(data: dict[str, Any]) -> FioJob:
    return FioJob(
        name=str(data.get("jobname", "")),
        groupid=_int(data.get("groupid")),
        error=_int(data.get("error")),
        read=_direction(data.get("read")),
        write=_direction(data.get("write")),
        options=_options(data.get("job options")),
    )


def _document(text: str) -> tuple[dict[str, Any] | None, list[str], str | None]:
    """The first JSON object whose line starts with ``{``, the lines before it, and an error."""
    decoder = json.JSONDecoder()
    notes: list[str] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("{"):
            start = offset + len(line) - len(line.lstrip())
            try:
                doc, _ = decoder.raw_decode(text, start)
            except json.JSONDecodeError as exc:
                return (
                    None,
                    notes,
                    f"fio JSON cut short or malformed: {exc.msg} at line {exc.lineno}",
                )
            if isinstance(doc, dict) and "jobs" in doc:
                return doc, notes, None
        elif line.strip():
            notes.append(line.strip())
        offset += len(line)
    return None, notes, "no fio JSON document (fio --output-format=json) found"


def parse_fio(text: str) -> FioRun:
    """What fio's JSON output in ``text`` holds; ``jobs`` is empty (and ``error`` says why) when
    no document was found."""
    doc, notes, error = _document(text)
    if doc is None:
        return FioRun(None, None, {}, (), tuple(notes), error)
    listed = doc.get("jobs")
    jobs = tuple(_job(j) for j in listed if isinstance(j, dict)) if isinstance(listed, list) else ()
    version = doc.get("fio version")
    timestamp = doc.get("timestamp")
    return FioRun(
        version=str(version) if version is not None else None,
        timestamp=timestamp if isinstance(timestamp, int) else None,
        global_options=_options(doc.get("global options")),
        jobs=jobs,
        notes=tuple(notes),
    )
