"""Parsers for Slurm command output (``scontrol show node``, ``sinfo``, ``scontrol ping``) and
hostlist syntax.

The parsers never raise: unrecognised lines are skipped and missing fields are ``None``.
``expand_hostlist`` is different: it feeds slurm.conf and partitions, so a malformed hostlist
raises ``ValueError`` rather than silently yielding the wrong nodes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# --------------------------------------------------------------------------- scontrol show node

# These values may contain spaces (and in a Reason even '='), and Slurm always ends the line
# with them, so they run to the end of the line.
_REST_OF_LINE_KEYS = frozenset({"Reason", "OS", "Comment", "Extra"})
_KEY = re.compile(r"(?:(?<=\s)|^)([A-Za-z][A-Za-z0-9_/]*)=")
_REASON_STAMP = re.compile(r"^(?P<text>.*?)\s*\[(?P<user>[^@\]]+)@(?P<time>[^\]]+)\]\s*$")


@dataclass(frozen=True)
class SlurmNode:
    """One node from ``scontrol show node``.

    ``state`` is the base state (``IDLE``); ``state_flags`` the ``+``-joined flags (``DRAIN``);
    a trailing ``*`` (not responding) becomes the flag ``NOT_RESPONDING``. ``reason`` is the
    full text; ``reason_user``/``reason_time`` come from its trailing ``[user@time]``.
    ``fields`` holds every key as printed, ``(null)`` included.
    """

    name: str
    state: str | None = None
    state_flags: tuple[str, ...] = ()
    gres: str | None = None
    cfg_tres: Mapping[str, str] = field(default_factory=dict)
    reason: str | None = None
    reason_user: str | None = None
    reason_time: str | None = None
    cpu_tot: int | None = None
    real_memory_mib: int | None = None
    partitions: tuple[str, ...] = ()
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def drained(self) -> bool:
        """True when the node is draining or drained (the DRAIN flag, or state DRAINED)."""
        return "DRAIN" in self.state_flags or self.state in {"DRAIN", "DRAINED", "DRAINING"}


def _line_fields(line: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    matches = list(_KEY.finditer(line))
    for i, m in enumerate(matches):
        key = m.group(1)
        if key in fields:
            continue
        if key in _REST_OF_LINE_KEYS:
            fields[key] = line[m.end() :].strip()
            break
        end = matches[i + 1].start() if i + 1 < len(matches) else len(line)
        fields[key] = line[m.end() : end].strip()
    return fields


def _null(value: str | None) -> str | None:
    return None if value in (None, "", "(null)", "None") else value


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and re.fullmatch(r"[0-9]+", value.strip()) else None


def split_state(state: str) -> tuple[str, tuple[str, ...]]:
    """``IDLE+DRAIN`` → ``("IDLE", ("DRAIN",))``; ``DOWN*`` → ``("DOWN", ("NOT_RESPONDING",))``."""
    parts = [p for p in state.strip().split("+") if p]
    if not parts:
        return "", ()
    base, flags = parts[0], parts[1:]
    if base.endswith("*"):
        base = base.rstrip("*")
        flags.append("NOT_RESPONDING")
    return base, tuple(flags)


def _node(fields: dict[str, str]) -> SlurmNode:
    base, flags = split_state(fields.get("State", ""))
    reason = _null(fields.get("Reason"))
    stamp = _REASON_STAMP.match(reason) if reason else None
    tres = _null(fields.get("CfgTRES"))
    partitions = _null(fields.get("Partitions"))
    return SlurmNode(
        name=fields.get("NodeName", ""),
        state=base or None,
        state_flags=flags,
        gres=_null(fields.get("Gres")),
        cfg_tres=dict(item.split("=", 1) for item in (tres or "").split(",") if "=" in item),
        reason=reason,
        reason_user=stamp["user"] if stamp else None,
        reason_time=stamp["time"] if stamp else None,
        cpu_tot=_int(fields.get("CPUTot")),
        real_memory_mib=_int(fields.get("RealMemory")),
        partitions=tuple(p for p in (partitions or "").split(",") if p),
        fields=fields,
    )


def parse_scontrol_show_node(text: str) -> list[SlurmNode]:
    """Nodes from ``scontrol show node [name]``, in output order.

    A node starts at each ``NodeName=`` (blank or whitespace-only lines inside a record, as
    Slurm prints before ``Reason=``, do not end it). Values are ``Key=value`` tokens separated
    by spaces; ``Reason``, ``OS``, ``Comment`` and ``Extra`` run to the end of their line.
    """
    records: list[dict[str, str]] = []
    for line in text.splitlines():
        fields = _line_fields(line)
        if "NodeName" in fields:
            records.append({})
        if records:
            for key, value in fields.items():
                records[-1].setdefault(key, value)
    return [_node(r) for r in records]


# --------------------------------------------------------------------------- sinfo

# sinfo appends one of these to the compact state name (man sinfo, NODE STATE CODES).
SINFO_STATE_FLAGS: dict[str, str] = {
    "*": "NOT_RESPONDING",
    "~": "POWERED_OFF",
    "#": "POWERING_UP",
    "!": "PENDING_POWER_DOWN",
    "%": "POWERING_DOWN",
    "$": "MAINTENANCE_RESERVATION",
    "@": "PENDING_REBOOT",
    "^": "REBOOT_ISSUED",
    "-": "PLANNED",
}


@dataclass(frozen=True)
class SinfoRow:
    """One row of the default ``sinfo`` table.

    ``partition`` has the default-partition ``*`` removed (``default`` says so); ``state`` is
    the compact state (``drng``, ``mix``) with its suffix flags moved to ``state_flags``.
    ``timelimit`` is kept as printed: sinfo cuts it to the column width (``14-00:00:0``).
    """

    partition: str
    default: bool
    avail: str
    timelimit: str
    nodes: int
    state: str
    state_flags: tuple[str, ...]
    nodelist: str

    def hosts(self) -> list[str]:
        """The node names in ``nodelist`` (raises ``ValueError`` if it is malformed)."""
        return expand_hostlist(self.nodelist)


def split_sinfo_state(state: str) -> tuple[str, tuple[str, ...]]:
    """``drng@`` → ``("drng", ("PENDING_REBOOT",))``; several suffixes are all kept."""
    base = state.strip()
    flags: list[str] = []
    while base and base[-1] in SINFO_STATE_FLAGS:
        flags.insert(0, SINFO_STATE_FLAGS[base[-1]])
        base = base[:-1]
    return base, tuple(flags)


def parse_sinfo(text: str) -> list[SinfoRow]:
    """Rows of the default ``sinfo`` output (``PARTITION AVAIL TIMELIMIT NODES STATE NODELIST``).

    Lines with fewer than five columns or a non-numeric NODES column (the header, error
    messages) are skipped; a row with no node list (zero nodes) gets ``nodelist=""``.
    """
    rows: list[SinfoRow] = []
    for line in text.splitlines():
        cells = line.split()
        if len(cells) < 5 or not re.fullmatch(r"[0-9]+", cells[3]):
            continue  # the header, or not a table row (an error message)
        partition, avail, timelimit, nodes, state = cells[:5]
        base, flags = split_sinfo_state(state)
        rows.append(
            SinfoRow(
                partition=partition.rstrip("*"),
                default=partition.endswith("*"),
                avail=avail,
                timelimit=timelimit,
                nodes=int(nodes),
                state=base,
                state_flags=flags,
                nodelist=" ".join(cells[5:]),
            )
        )
    return rows


# --------------------------------------------------------------------------- scontrol ping

# Slurm >= 18.08 (one line per SlurmctldHost, src/scontrol/scontrol.c ``_ping_slurmctld`` /
# ``_print_ping``): ``Slurmctld(primary) at cp1 is UP``, ``Slurmctld(backup) at cp2 is DOWN``,
# ``backup2``... when there are more than two.
_PING_ONE = re.compile(
    r"^Slurmctld\((?P<role>primary|backup\d*)\) at (?P<host>\S+) is (?P<state>UP|DOWN)\s*$"
)
# Slurm < 18.08: ``Slurmctld(primary/backup) at cp1/cp2 are UP/DOWN``.
_PING_PAIR = re.compile(
    r"^Slurmctld\(primary/backup\) at (?P<primary>\S+)/(?P<backup>\S+) are "
    r"(?P<pstate>UP|DOWN)/(?P<bstate>UP|DOWN)\s*$"
)


@dataclass(frozen=True)
class ControllerPing:
    """One slurmctld as ``scontrol ping`` reports it: ``role`` ``primary``, ``backup`` or
    ``backupN``; ``up`` whether it answered the ping."""

    role: str
    host: str
    up: bool


def parse_scontrol_ping(text: str) -> list[ControllerPing]:
    """The controllers of ``scontrol ping`` output, primary first; other lines are ignored.

    ``UP`` means the daemon answered; a backup in standby answers too, so ``UP`` does not say
    which controller is in control. ``(NULL)`` hosts (no backup configured, old format) are
    left out.
    """
    pings: list[ControllerPing] = []
    for line in text.splitlines():
        line = line.strip()
        if m := _PING_ONE.match(line):
            pings.append(ControllerPing(m["role"], m["host"], m["state"] == "UP"))
        elif m := _PING_PAIR.match(line):
            for role, host, state in (
                ("primary", m["primary"], m["pstate"]),
                ("backup", m["backup"], m["bstate"]),
            ):
                if host != "(NULL)":
                    pings.append(ControllerPing(role, host, state == "UP"))
    return pings


# --------------------------------------------------------------------------- hostlists

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
