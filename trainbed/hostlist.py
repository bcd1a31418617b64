"""Slurm hostlists: ``gpu[01-03,07],cp1`` ⇄ the names it stands for. The one implementation:
slurm.conf rendering, the probes' scontrol commands and the parsers of Slurm output use it.

Unlike the parsers, `expand_hostlist` raises ``ValueError`` on a malformed hostlist: it feeds
slurm.conf and partitions, where a silently wrong node list is worse than an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_RANGE = re.compile(r"^([0-9]+)(?:-([0-9]+))?$")


def _split_top_level(hostlist: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(hostlist):
        if ch == "[":
            depth += 1
            if depth > 1:
                raise ValueError(f"nested '[' in hostlist {hostlist!r}")
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced ']' in hostlist {hostlist!r}")
        elif ch == "," and depth == 0:
            parts.append(hostlist[start:i])
            start = i + 1
    if depth:
        raise ValueError(f"unclosed '[' in hostlist {hostlist!r}")
    parts.append(hostlist[start:])
    return [p.strip() for p in parts if p.strip()]


def _expand_ranges(spec: str, whole: str) -> list[str]:
    numbers: list[str] = []
    for item in spec.split(","):
        m = _RANGE.match(item.strip())
        if not m:
            raise ValueError(f"bad range {item!r} in hostlist {whole!r}")
        lo, hi = m.group(1), m.group(2)
        if hi is None:
            numbers.append(lo)
            continue
        if int(hi) < int(lo):
            raise ValueError(f"descending range {item!r} in hostlist {whole!r}")
        width = len(lo)  # Slurm pads to the width of the lower bound: [08-10] → 08 09 10
        numbers.extend(str(n).zfill(width) for n in range(int(lo), int(hi) + 1))
    return numbers


def _expand_one(name: str, whole: str) -> list[str]:
    m = re.search(r"\[([^\]]*)\]", name)
    if not m:
        if "]" in name:
            raise ValueError(f"unbalanced ']' in hostlist {whole!r}")
        return [name]
    head, tail = name[: m.start()], name[m.end() :]
    return [
        f"{head}{number}{rest}"
        for number in _expand_ranges(m.group(1), whole)
        for rest in _expand_one(tail, whole)
    ]


def expand_hostlist(hostlist: str) -> list[str]:
    """``gpu[01-03,07],cp1`` → ``["gpu01", "gpu02", "gpu03", "gpu07", "cp1"]``.

    Slurm hostlist syntax: comma-separated names, each with any number of ``[a-b,c]`` groups
    (several groups give their cartesian product). Zero padding follows the range's lower
    bound. Order is as written; duplicates are kept. Raises ``ValueError`` when malformed.
    """
    return [host for part in _split_top_level(hostlist) for host in _expand_one(part, hostlist)]


_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<num>[0-9]+)(?P<suffix>[^0-9]*)$")


def _ranges(numbers: list[str]) -> list[str]:
    """Consecutive numbers of one width collapse to ``lo-hi``."""
    out: list[str] = []
    i = 0
    while i < len(numbers):
        lo = numbers[i]
        j = i
        while (
            j + 1 < len(numbers)
            and numbers[j + 1] == str(int(numbers[j]) + 1).zfill(len(lo))
            and int(numbers[j + 1]) == int(numbers[j]) + 1
        ):
            j += 1
        out.append(lo if j == i else f"{lo}-{numbers[j]}")
        i = j + 1
    return out


def compress_hostlist(hosts: Iterable[str]) -> str:
    """Inverse of :func:`expand_hostlist`: ``["gpu01", "gpu02", "gpu07"]`` → ``gpu[01-02,07]``.

    Names are grouped by what surrounds their last number (groups in order of first
    appearance); within a group numbers are sorted and deduplicated, and consecutive numbers
    of the same zero-padded width form ranges. Names without digits are kept once, as is.
    ``expand_hostlist(compress_hostlist(h))`` yields the same set of names as ``h``.
    """
    groups: dict[tuple[str, str], set[str]] = {}
    plain: dict[str, None] = {}
    order: list[tuple[str, str] | str] = []
    for host in hosts:
        m = _NUMBERED.match(host)
        if not m:
            if host not in plain:
                plain[host] = None
                order.append(host)
            continue
        key = (m["prefix"], m["suffix"])
        if key not in groups:
            groups[key] = set()
            order.append(key)
        groups[key].add(m["num"])
    parts: list[str] = []
    for item in order:
        if isinstance(item, str):
            parts.append(item)
            continue
        prefix, suffix = item
        numbers = sorted(groups[item], key=lambda s: (int(s), len(s)))
        ranges = _ranges(numbers)
        if len(ranges) == 1 and "-" not in ranges[0]:
            parts.append(f"{prefix}{ranges[0]}{suffix}")
        else:
            parts.append(f"{prefix}[{','.join(ranges)}]{suffix}")
    return ",".join(parts)
