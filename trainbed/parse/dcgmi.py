"""Parser for the ``dcgmi diag`` results table.

Never raises: lines outside the two-column ``| name | result |`` table are ignored.
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
