"""Line handling shared by the parsers: line ends and launcher prefixes."""

from __future__ import annotations

import re
from typing import NamedTuple

# `srun -l` writes "0: " (task ids are right-aligned, so " 0: " once there are 10+ tasks);
# `mpirun --tag-output` writes "[jobid,rank]<stdout>:" or "<stderr>:".
_PREFIX = re.compile(r"^(?:\s*(?P<srun>\d+): |\[(?P<mpi>\d+,\d+)\]<std(?:out|err)>:)")

_INTEGER = re.compile(r"[-+]?[0-9]+\Z")
_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")


class Line(NamedTuple):
    """One output line with its launcher prefix split off."""

    number: int  # 1-based line number in the input
    stream: str  # the launcher prefix ("0", "1,0") or "" for unprefixed lines
    text: str  # the line without prefix and without trailing whitespace


def split_prefix(raw: str) -> tuple[str, str]:
    """Split a launcher prefix off `raw`: returns (stream, rest)."""
    match = _PREFIX.match(raw)
    if not match:
        return "", raw
    return match.group("srun") or match.group("mpi") or "", raw[match.end() :]


def lines(text: str) -> list[Line]:
    """Split `text` into lines (any line end), without launcher prefixes or trailing blanks."""
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stream, rest = split_prefix(raw)
        out.append(Line(number, stream, rest.rstrip()))
    return out


def to_int(token: str) -> int | None:
    """`token` as an int (accepting "1e+06"-style floats that hold whole numbers), else None."""
    if _INTEGER.match(token):
        try:
            return int(token)
        except ValueError:  # beyond Python's int-from-str digit limit
            return None
    value = to_float(token)
    if value is None or not value.is_integer():
        return None
    return int(value)


def to_float(token: str) -> float | None:
    """`token` as a float if it is a plain decimal number ("12.5", "7e-07"), else None."""
    # float() alone would also accept "nan", "inf" and "1_0", which never appear in a real column.
    if not _NUMBER.match(token):
        return None
    value = float(token)
    return value if value not in (float("inf"), float("-inf")) else None
