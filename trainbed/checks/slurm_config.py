"""The running Slurm configuration (`scontrol show config`) against the rendered slurm.conf.

`scontrol show config` prints every key, with defaults filled in and values decorated (units,
uids, upper case, defaults added to lists). Only the keys slurm.conf sets are compared, each after
undoing the decoration Slurm adds to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Lines of slurm.conf that describe nodes and partitions; `scontrol show node/partition` covers them.
_OBJECT_KEYS = frozenset({"NodeName", "PartitionName", "NodeSet", "DownNodes", "FrontendName"})
#: Keys where Slurm adds its own default items to the configured list.
_SUPERSET_KEYS = frozenset({"AccountingStorageTRES"})
_UNIT = re.compile(r"^(-?\d+)\s+(sec|min|usec|percent|nodes/min)$")
_OWNER = re.compile(r"^(\S+)\(\d+\)$")
_INDEXED = re.compile(r"^(\w+)\[(\d+)\]$")
#: What Slurm from 23.11 shows for a plugin configured as none: task/none, mpi/none and
#: jobcomp/none are no longer plugins; the key reads "none" and holds NULL (read_config.c).
_NULL = "(null)"


@dataclass(frozen=True, slots=True)
class Mismatch:
    key: str
    expected: str
    actual: str | None

    def __str__(self) -> str:
        got = "not set" if self.actual is None else self.actual
        return f"{self.key}: expected {self.expected}, got {got}"


def parse_slurm_conf(text: str) -> dict[str, list[str]]:
    """Key → values of a slurm.conf (repeated keys such as SlurmctldHost keep every value)."""
    conf: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        if key in _OBJECT_KEYS:
            continue
        conf.setdefault(key.strip(), []).append(value.strip())
    return conf


def parse_show_config(text: str) -> dict[str, list[str]]:
    """Key → values of `scontrol show config`; `SlurmctldHost[0]`, `[1]` become one list."""
    shown: dict[str, list[str]] = {}
    for line in text.splitlines():
        if " = " not in line and not line.rstrip().endswith(" ="):
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not key or " " in key:
            continue
        indexed = _INDEXED.match(key)
        if indexed:
            key = indexed.group(1)
        shown.setdefault(key, []).append(value)
    return shown


def _normal(value: str) -> str:
    """A shown value without Slurm's decoration: `300 sec` → `300`, `slurm(991)` → `slurm`."""
    value = value.strip()
    unit = _UNIT.match(value)
    if unit:
        return unit.group(1)
    owner = _OWNER.match(value)
    if owner:
        return owner.group(1)
    return value.lower()


def compare(rendered: str, shown: str) -> list[Mismatch]:
    """Keys that slurm.conf sets whose running value differs; empty when they all agree."""
    running = {key.lower(): values for key, values in parse_show_config(shown).items()}
    mismatches: list[Mismatch] = []
    for key, values in parse_slurm_conf(rendered).items():
        actual = running.get(key.lower())
        expected = ",".join(values)
        if actual is None:
            mismatches.append(Mismatch(key, expected, None))
            continue
        want = [_normal(v) for v in values]
        got = [_normal(v) for v in actual]
        if got == [_NULL] and all(w == "none" or w.endswith("/none") for w in want):
            ok = True
        elif key in _SUPERSET_KEYS:
            items = set(",".join(got).split(","))
            ok = all(item in items for item in ",".join(want).split(","))
        else:
            ok = want == got
        if not ok:
            mismatches.append(Mismatch(key, expected, ",".join(actual)))
    return mismatches
