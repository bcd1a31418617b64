"""Parser for nvbandwidth's plain-text output (NVIDIA/nvbandwidth).

Never raises. A testcase starts at ``Running NAME.``; the next line is its title
(``memcpy CE CPU(row) -> GPU(column) bandwidth (GB/s)``), then a header of column labels and one
row per source (``N/A`` where a pair is not measured), then ``SUM NAME total`` in v0.5+.
``WAIVED``/``ERROR: ...`` in place of a matrix are kept as the testcase's status. Lines
outside testcases (version, driver, devices, NOTE) are read for the version and driver only.

Real samples: the two example blocks of the project's README (older layout: no ``SUM`` line,
``0.00`` on the diagonal, row labels without a leading space). The v0.8 header lines, ``N/A``
and ``SUM`` follow v0.8's source (output.cpp, inline_common.h); no real capture of a whole v0.8
run is in the fixture set. ``-j`` (JSON) output is not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_RUNNING = re.compile(r"^Running (?P<name>[A-Za-z0-9_]+)\.\s*$")
_SUM = re.compile(r"^SUM (?P<name>[A-Za-z0-9_]+) (?P<value>-?\d{1,12}(?:\.\d{1,6})?)\s*$")
_STATUS = re.compile(r"^(?P<status>WAIVED|ERROR|Waived)\b:?\s*(?P<message>.*)$")
_VERSION = re.compile(r"^nvbandwidth Version:\s*(?P<v>\S+)")
_DRIVER = re.compile(r"^Driver Version:\s*(?P<v>\S+)")
_NUMBER = re.compile(r"^-?\d{1,12}(?:\.\d{1,6})?$")


@dataclass(frozen=True)
class Testcase:
    """One testcase. ``values[row][column]`` in the title's unit (GB/s for bandwidth),
    ``None`` for ``N/A``; ``columns``/``rows`` are the labels as printed. ``total`` is the
    ``SUM`` line (None before v0.5). ``status`` is ``ok``, ``waived`` or ``error``."""

    name: str
    title: str | None = None
    columns: tuple[str, ...] = ()
    rows: tuple[str, ...] = ()
    values: tuple[tuple[float | None, ...], ...] = ()
    total: float | None = None
    status: str = "ok"
    message: str | None = None

    @property
    def unit(self) -> str | None:
        """The unit in the title's last parentheses (``GB/s``, ``ns``)."""
        m = re.search(r"\(([^()]*)\)\s*$", self.title or "")
        return m.group(1) if m else None

    @property
    def device_to_device(self) -> bool:
        """Rows and columns are both GPUs (``GPU(row) ... GPU(column)``)."""
        return "GPU(row)" in (self.title or "") and "GPU(column)" in (self.title or "")

    @property
    def measured(self) -> tuple[float, ...]:
        """Every measured cell; a GPU-to-GPU matrix's diagonal (a GPU to itself, ``N/A``, or
        ``0.00`` in older versions) is not a pair and is left out."""
        return tuple(
            v
            for i, row in enumerate(self.values)
            for j, v in enumerate(row)
            if v is not None and not (self.device_to_device and i == j)
        )

    @property
    def minimum(self) -> float | None:
        """The lowest measured cell (the slowest pair), None when nothing was measured."""
        return min(self.measured, default=None)


@dataclass(frozen=True)
class NvbandwidthRun:
    """A whole run: the tool and driver versions when printed, and the testcases in order."""

    version: str | None = None
    driver_version: str | None = None
    testcases: tuple[Testcase, ...] = field(default_factory=tuple)

    def testcase(self, name: str) -> Testcase | None:
        """The testcase called `name`, if it ran."""
        return next((t for t in self.testcases if t.name == name), None)


def _cell(token: str) -> float | None:
    return float(token) if _NUMBER.match(token) else None


def parse_nvbandwidth(text: str) -> NvbandwidthRun:
    """The run in `text`."""
    version = driver = None
    done: list[Testcase] = []
    current: dict[str, object] | None = None

    def close() -> None:
        if current is not None:
            done.append(Testcase(**current))  # type: ignore[arg-type]

    for raw in text.splitlines():
        line = raw.rstrip()
        if (m := _VERSION.match(line)) and version is None:
            version = m["v"]
            continue
        if (m := _DRIVER.match(line)) and driver is None:
            driver = m["v"]
            continue
        if m := _RUNNING.match(line):
            close()
            current = {"name": m["name"]}
            continue
        if current is None:
            continue
        if m := _SUM.match(line):
            if m["name"] == current["name"]:
                current["total"] = float(m["value"])
            continue
        if m := _STATUS.match(line):
            current["status"] = "waived" if m["status"].lower() == "waived" else "error"
            current["message"] = m["message"] or None
            continue
        if not line.strip():
            continue
        tokens = line.split()
        if "title" not in current:
            current["title"] = line.strip()
        elif "columns" not in current:
            current["columns"] = tuple(tokens)
        elif len(tokens) == len(current["columns"]) + 1:  # type: ignore[arg-type]
            current["rows"] = (*current.get("rows", ()), tokens[0])  # type: ignore[misc]
            row = tuple(_cell(t) for t in tokens[1:])
            current["values"] = (*current.get("values", ()), row)  # type: ignore[misc]
    close()
    return NvbandwidthRun(version=version, driver_version=driver, testcases=tuple(done))
