"""Parsers for Slurm command output: ``scontrol show node``, ``sinfo``, ``scontrol ping``,
``squeue``, ``sacct`` and ``sbatch --parsable``. Every caller (checks, probes, day-2 playbooks)
parses Slurm's answers here; hostlist syntax is :mod:`trainbed.hostlist`.

The parsers never raise: unrecognised lines are skipped and missing fields are ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from trainbed.hostlist import expand_hostlist

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


# --------------------------------------------------------------------------- squeue, sacct, sbatch

#: Job states after which a job will not change again (squeue ``-t all`` / sacct).
TERMINAL_STATES = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "TIMEOUT",
        "NODE_FAIL",
        "CANCELLED",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
        "REVOKED",
        "SPECIAL_EXIT",
    }
)

#: The squeue format and sacct fields `parse_squeue` and `parse_sacct` read.
SQUEUE_FORMAT = "%i|%T|%r|%M|%N"
SACCT_FIELDS = "JobIDRaw,State,ExitCode,ElapsedRaw,NodeList"


def base_state(state: str) -> str:
    """``CANCELLED by 0`` → ``CANCELLED``; ``RUNNING+`` → ``RUNNING``."""
    word = state.strip().split(" ")[0] if state.strip() else "UNKNOWN"
    return word.rstrip("+*").upper()


def duration_seconds(text: str) -> float | None:
    """Slurm's elapsed-time format (``[D-][HH:]MM:SS``) in seconds; None when unreadable."""
    m = re.fullmatch(r"\s*(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)(?:\.\d+)?\s*", text)
    if not m:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


@dataclass(frozen=True, slots=True)
class JobStatus:
    """One job as squeue or sacct shows it."""

    job_id: str
    state: str
    reason: str | None = None
    elapsed_s: float | None = None
    nodes: str | None = None
    exit_code: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


def parse_squeue(text: str) -> dict[str, JobStatus]:
    """``squeue -h -o '%i|%T|%r|%M|%N'`` lines by job id."""
    jobs: dict[str, JobStatus] = {}
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) < 5 or not fields[0]:
            continue
        job_id, state, reason, elapsed, nodes = fields[:5]
        jobs[job_id] = JobStatus(
            job_id,
            base_state(state),
            None if reason in ("", "None", "(null)") else reason,
            duration_seconds(elapsed),
            nodes or None,
        )
    return jobs


def parse_sacct(text: str) -> dict[str, JobStatus]:
    """``sacct -n -P -X -o JobIDRaw,State,ExitCode,ElapsedRaw,NodeList`` lines by job id."""
    jobs: dict[str, JobStatus] = {}
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) < 5 or not fields[0].isdigit():
            continue
        job_id, state, exit_code, elapsed, nodes = fields[:5]
        jobs[job_id] = JobStatus(
            job_id,
            base_state(state),
            None,
            float(elapsed) if elapsed.isdigit() else None,
            None if nodes in ("", "None assigned") else nodes,
            exit_code or None,
        )
    return jobs


def sbatch_job_id(stdout: str) -> str | None:
    """The job id ``sbatch --parsable`` printed (``1234`` or ``1234;cluster``), or None."""
    first = stdout.strip().split(";")[0]
    return first if first.isdigit() else None


def squeue_job_ids(text: str) -> list[str]:
    """Job ids from ``squeue -h -o %A``-style output (first column of every non-empty line)."""
    return [line.split()[0] for line in text.splitlines() if line.strip()]
