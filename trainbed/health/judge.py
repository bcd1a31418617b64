"""The pure core: which commands a level runs, and what their output says.

`commands(plan, level, ...)` names the facts a level reads; `judge(host, plan, level, outputs)`
turns their output into one `Verdict` per check, each judged by the shared verdict modules
(`trainbed.verdicts`: the same code as the acceptance checks). Nothing here runs a command.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from trainbed.health.facts import Command
from trainbed.health.plan import HealthPlan
from trainbed.parse.chrony import parse_tracking
from trainbed.parse.dcgmi import parse_dcgmi_diag
from trainbed.parse.ibstat import parse_ibstat
from trainbed.parse.journal import journal_xids
from trainbed.parse.nvidia_smi import GpuInfo, parse_query
from trainbed.parse.nvlink import parse_nvlink_status
from trainbed.verdicts import (
    Findings,
    NotRun,
    clocks,
    dcgm,
    ecc,
    findings,
    gpu_count,
    hca_port,
    mismatch,
    nvlink,
    service,
    time_sync,
    xid,
)

#: `dcgmi diag -r` of the levels that run one (the epilog's only after a failed job).
DCGM_RUN = {"prolog": 1, "epilog": 2}
#: The kernel's messages in the node's own journal (where XIDs are read, by this program and by
#: the acceptance checks alike), as JSON; the window's start (`journal_since`) follows. Only the
#: current boot's (`-b`): an XID keeps its node failing until the node is rebooted (the remedy of
#: most), then it is history, not a reason to drain the repaired node again.
JOURNAL_ARGV = (
    "journalctl",
    "--no-pager",
    "-q",
    "-b",
    "-o",
    "json",
    "--output-fields=MESSAGE,__REALTIME_TIMESTAMP",
    "SYSLOG_IDENTIFIER=kernel",
    "--since",
)
#: chronyd's view of the clock; `-n`: no DNS lookup of the source's name (bounded, offline-safe).
TRACKING_ARGV = ("chronyc", "-n", "tracking")


@dataclass(frozen=True, slots=True)
class Verdict:
    """One check's result: its failures and warnings, or why it could not run."""

    check: str
    failures: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    could_not_run: str | None = None

    @property
    def status(self) -> str:
        if self.could_not_run is not None:
            return "could not run"
        return "fail" if self.failures else "pass"


def journal_since(now: datetime, window_hours: float) -> str:
    """journalctl's `--since` for the XID window ending `now` (`@EPOCH`, systemd.time(7))."""
    return f"@{int((now - timedelta(hours=window_hours)).timestamp())}"


def commands(
    host: str, plan: HealthPlan, level: str, now: datetime, job_failed: bool = False
) -> dict[str, Command]:
    """name → command of every fact the level reads (passive's for every level, plus DCGM;
    the epilog's DCGM only after a failed job)."""
    t = plan.command_timeout_s
    out: dict[str, Command] = {}
    if plan.gpus:
        out["gpus"] = Command(f"{host} nvidia-smi -q", ("nvidia-smi", "-q"), t)
        out["journal"] = Command(
            f"{host} kernel journal",
            (*JOURNAL_ARGV, journal_since(now, plan.xid_window_hours)),
            t,
        )
    if plan.nvlink:
        out["nvlink"] = Command(f"{host} nvidia-smi nvlink", ("nvidia-smi", "nvlink", "-s"), t)
    if plan.hcas:
        out["ibstat"] = Command(f"{host} ibstat", ("ibstat",), t)
    if plan.units:
        out["units"] = Command(
            f"{host} systemctl is-active", ("systemctl", "is-active", *plan.units), t, any_exit=True
        )
    if plan.time_sync:
        out["chrony"] = Command(f"{host} chronyc tracking", TRACKING_ARGV, t)
    if plan.mounts:
        out["mounts"] = Command(f"{host} findmnt", ("findmnt", "-rn", "-o", "TARGET"), t)
    run = DCGM_RUN.get(level)
    if run and plan.gpus and (level != "epilog" or job_failed):
        timeout = plan.prolog_dcgm_timeout_s if level == "prolog" else plan.epilog_dcgm_timeout_s
        out["dcgm"] = Command(
            f"{host} dcgmi diag -r {run}", ("dcgmi", "diag", "-r", str(run)), timeout, any_exit=True
        )
    return out


def _verdict(check: str, found: Findings | NotRun) -> Verdict:
    if isinstance(found, NotRun):
        return Verdict(check, could_not_run=str(found))
    return Verdict(check, found.failures, found.warnings)


Outputs = Mapping[str, "str | NotRun"]


def _gpus(outputs: Outputs) -> list[GpuInfo] | NotRun:
    text = outputs["gpus"]
    return text if isinstance(text, NotRun) else parse_query(text)


def _gpu_checks(host: str, plan: HealthPlan, outputs: Outputs) -> list[Verdict]:
    """GPU count, memory and clocks from `nvidia-smi -q`; XIDs from the journal, their GPUs
    named by index where nvidia-smi answered, else by bus ID."""
    gpus = _gpus(outputs)
    out: list[Verdict] = []
    if isinstance(gpus, NotRun):
        out.append(_verdict("gpus", gpus))
    else:
        out += [
            _verdict("gpu count", findings([gpu_count.problem(host, plan.gpus, len(gpus))])),
            _verdict("gpu memory", sum((ecc.problems(host, g) for g in gpus), Findings())),
            _verdict("gpu clocks", sum((clocks.problems(host, g) for g in gpus), Findings())),
        ]
    journal = outputs["journal"]
    if isinstance(journal, NotRun):
        return [*out, _verdict("xid", journal)]
    by_bus = {} if isinstance(gpus, NotRun) else {g.bus_id: g.index for g in gpus}
    found = xid.problems(
        host, journal_xids(journal), by_bus, frozenset(plan.critical_xids), plan.xid_window_hours
    )
    return [*out, _verdict("xid", found)]


def _nvlink(host: str, _plan: HealthPlan, text: str) -> Findings:
    return nvlink.problems(host, parse_nvlink_status(text))


def _hcas(host: str, plan: HealthPlan, text: str) -> Findings:
    cas = hca_port.by_name(parse_ibstat(text))
    found: list[str] = []
    for port in plan.hcas:
        want = hca_port.Expected(port.device, port.port, port.rate_gbps, port.link_layer)
        found += hca_port.problems(host, want, cas)
    return Findings(tuple(found))


def _units(host: str, plan: HealthPlan, text: str) -> Findings | NotRun:
    states = text.split()
    if len(states) != len(plan.units):
        return NotRun(f"{host} systemctl is-active", f"{len(states)} answers for {len(plan.units)}")
    return findings(service.problem(host, u, s) for u, s in zip(plan.units, states, strict=True))


def _mounts(host: str, plan: HealthPlan, text: str) -> Findings:
    mounted = set(text.split())
    return findings(
        mismatch(f"{host} {point}", "mounted", "not mounted")
        for point in plan.mounts
        if point not in mounted
    )


def _clock(host: str, plan: HealthPlan, text: str) -> Findings:
    return time_sync.problems(host, parse_tracking(text), plan.clock_offset_s)


Judge = Callable[[str, HealthPlan, str], "Findings | NotRun"]
_SIMPLE: dict[str, tuple[str, Judge]] = {
    "nvlink": ("nvlink", _nvlink),
    "ibstat": ("hca ports", _hcas),
    "units": ("services", _units),
    "mounts": ("mounts", _mounts),
    "chrony": ("clock", _clock),
}


def judge(host: str, plan: HealthPlan, level: str, outputs: Outputs) -> list[Verdict]:
    """One verdict per check of the facts the level read (`outputs`: name → stdout or NotRun,
    the names `commands` gave)."""
    out: list[Verdict] = []
    if "gpus" in outputs:
        out += _gpu_checks(host, plan, outputs)
    for name, (check, how) in _SIMPLE.items():
        if name in outputs:
            text = outputs[name]
            out.append(_verdict(check, text if isinstance(text, NotRun) else how(host, plan, text)))
    if "dcgm" in outputs:
        text = outputs["dcgm"]
        run = DCGM_RUN[level]
        if isinstance(text, NotRun):
            out.append(_verdict("dcgm", text))
        else:
            rows = parse_dcgmi_diag(text)
            if not dcgm.ran(rows):
                summary = " ".join(text.split())[:200] or "no output"
                out.append(
                    _verdict(
                        "dcgm",
                        NotRun(f"{host} dcgmi diag -r {run}", f"no results table ({summary})"),
                    )
                )
            else:
                out.append(_verdict("dcgm", dcgm.problems(host, run, rows)))
    return out
