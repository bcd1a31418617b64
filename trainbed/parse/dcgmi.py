"""Parser for the ``dcgmi diag`` results table, and its results per GPU.

Never raises: lines outside the two-column ``| name | result |`` table are ignored.
``dcgmi diag -j`` (JSON) is not read: no real sample of it is in the fixture set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SECTION = re.compile(r"^[|+]-+\s+(?P<name>[^-+|]+?)\s+-+\+")
_ROW = re.compile(r"^\|(?P<name>[^|]*)\|(?P<value>[^|]*)\|\s*$")
_RESULT = re.compile(r"^(?P<status>Pass|Fail|Skip|Warn)\b\s*(?:-\s*(?P<scope>.*))?$")

# Rows that annotate the test row above them rather than being a test of their own.
_NOTE_ROWS = {"Info", "Warning", "Error"}


@dataclass(frozen=True)
class DcgmiResult:
    """One test row. ``status`` is Pass/Fail/Skip/Warn, or ``None`` for metadata rows
    (``DCGM Version`` …) whose text is in ``value``. ``scope`` is what follows the dash
    (``All``). ``info``/``warnings`` are the following Info/Warning rows, unwrapped."""

    section: str | None
    name: str
    value: str
    status: str | None = None
    scope: str | None = None
    info: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass
class _Row:
    section: str | None
    name: str
    chunks: list[str] = field(default_factory=list)
    notes: list[_Row] = field(default_factory=list)


def _join(chunks: list[str], width: int) -> str:
    # dcgmi cuts long text every ``width`` characters, mid-word, and pads each piece; a space
    # that fell at the end of a piece is lost to the padding, so pad every piece but the last
    # back to full width before joining.
    if not chunks:
        return ""
    return ("".join(c.ljust(width) for c in chunks[:-1]) + chunks[-1]).strip()


def parse_dcgmi_diag(text: str) -> list[DcgmiResult]:
    """Rows of ``dcgmi diag -r N`` in output order, metadata rows included.

    A row with an empty name cell continues the cell above it (dcgmi wraps long text).
    ``Info``/``Warning`` rows attach to the test row before them.
    """
    rows: list[_Row] = []
    current: _Row | None = None
    section: str | None = None
    for line in text.splitlines():
        sec = _SECTION.match(line)
        if sec:
            section = sec["name"].strip()
            continue
        m = _ROW.match(line.rstrip())
        if not m:
            continue
        name = m["name"].strip()
        chunk = m["value"][1:].rstrip() if m["value"].startswith(" ") else m["value"].rstrip()
        if name == "Diagnostic" and chunk.strip() == "Result":
            continue
        if not name:
            if current is not None:
                current.chunks.append(chunk)
            continue
        current = _Row(section, name, [chunk])
        if name in _NOTE_ROWS and rows:
            rows[-1].notes.append(current)
        else:
            rows.append(current)
    wrapped = [
        len(c)
        for r in rows
        for row in (r, *r.notes)
        for c in row.chunks[:-1]  # only pieces followed by a continuation were cut full
    ]
    width = max(wrapped, default=0)
    results: list[DcgmiResult] = []
    for r in rows:
        value = _join(r.chunks, width)
        res = _RESULT.match(value)
        results.append(
            DcgmiResult(
                section=r.section,
                name=r.name,
                value=value,
                status=res["status"] if res else None,
                scope=(res["scope"] or None) if res else None,
                info=tuple(_join(n.chunks, width) for n in r.notes if n.name == "Info"),
                warnings=tuple(_join(n.chunks, width) for n in r.notes if n.name != "Info"),
            )
        )
    return results


# ----------------------------------------------------------------------- per GPU

_SCOPED = re.compile(r"(?P<status>Pass|Fail|Skip|Warn)\s*-\s*(?P<scope>All|GPUs?:\s*[\d,\s]+)")
_GPU_MESSAGE = re.compile(r"^GPU\s+(?P<gpu>\d{1,4})\b")


@dataclass(frozen=True)
class DcgmiGpuResult:
    """One test's result on one GPU. ``message`` is DCGM's Warning text naming that GPU (or
    not naming any GPU), joined with `` | `` when there are several; ``None`` if none."""

    section: str | None
    test: str
    gpu: int
    status: str
    message: str | None = None


def gpu_count(rows: list[DcgmiResult]) -> int | None:
    """How many GPUs the run covered, from ``GPU Device IDs Detected`` (``2330,2330,...``)."""
    for row in rows:
        if row.name == "GPU Device IDs Detected" and row.status is None:
            ids = [i for i in row.value.split(",") if i.strip()]
            return len(ids) or None
    return None


def _scopes(row: DcgmiResult, gpus: int | None) -> list[tuple[str, list[int]]]:
    out: list[tuple[str, list[int]]] = []
    for m in _SCOPED.finditer(row.value):
        scope = m["scope"]
        if scope == "All":
            out.append((m["status"], list(range(gpus or 0))))
        else:
            numbers = re.findall(r"\d{1,4}", scope.split(":", 1)[1])
            out.append((m["status"], [int(n) for n in numbers]))
    return out


def per_gpu_results(rows: list[DcgmiResult], gpus: int | None = None) -> list[DcgmiGpuResult]:
    """Every test row expanded to one result per GPU, in output order.

    ``All`` covers GPUs ``0 .. gpus-1`` (`gpus` defaults to `gpu_count`; when neither is
    known an ``All`` row yields nothing); ``GPU: 3`` / ``GPUs: 0, 1`` cover the GPUs named
    (that split form, printed when GPUs disagree, has no real sample in the fixture set). Warnings beginning ``GPU N`` go to GPU N, others to
    every GPU of the row. Rows without a scope (the node-wide Deployment checks) are left
    out; read them from `parse_dcgmi_diag`'s rows.
    """
    count = gpus if gpus is not None else gpu_count(rows)
    out: list[DcgmiGpuResult] = []
    for row in rows:
        if row.status is None:
            continue
        for status, indices in _scopes(row, count):
            for gpu in indices:
                notes = [
                    w
                    for w in row.warnings
                    if (m := _GPU_MESSAGE.match(w)) is None or int(m["gpu"]) == gpu
                ]
                out.append(
                    DcgmiGpuResult(row.section, row.name, gpu, status, " | ".join(notes) or None)
                )
    return out
