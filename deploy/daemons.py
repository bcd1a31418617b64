"""Daemons the deploy manages: started and restarted in order across hosts, then proved active.

pyinfra runs each operation on every host before the next, in an order it derives from each host's
own sequence of operations; two hosts with different roles share no operation, so nothing orders
cp3's slurmdbd before cp1's slurmctld. `ordering_point` is an operation without a command that
every host adds at the same place in the code: it is one node of that order, after everything
added before it on any host and before everything added after it on any host.

`daemon` keeps a unit enabled and running, restarts it when asked, and — when either ran — adds a
post-condition: within a bounded wait the unit is active (and listening on its port, where it has
one) and still active, not restarted by systemd meanwhile, after a short settle. Otherwise the host fails
with a message naming it, the unit, its state and its last journal lines (and log file lines). A
start that fails is left to that post-condition (`_ignore_errors`), so it reports the journal
rather than systemctl's "see journalctl"; a run that starts and restarts nothing runs no check.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

from pyinfra import state
from pyinfra.api import StringCommand, operation
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import systemd

from deploy import context

#: Seconds a unit may take to become active (and listening) after its start or restart.
ACTIVE_TIMEOUT_S = 30
#: Seconds it must then stay active, not restarted by systemd (daemons that die on a bad
#: configuration or a missing peer do so within a second of starting).
SETTLE_S = 2
JOURNAL_LINES = 15


@dataclass(frozen=True)
class Daemon:
    """A unit and how to tell it is up: active, listening on `port` when given."""

    unit: str
    port: int | None = None
    log_file: str | None = None
    timeout_s: int = ACTIVE_TIMEOUT_S


@operation()
def ordering_point() -> Generator[StringCommand, None, None]:
    """No command: every host adds this at the same place, so it orders operations across hosts."""
    yield from ()


def _ran(ops: Sequence[OperationMeta | None]) -> bool:
    """At execution time: did any of these operations run a command (successfully or not)?"""
    return any(op is not None and op.executed for op in ops)


@operation()
def proven_active(
    hostname: str,
    daemons: tuple[tuple[Daemon, tuple[OperationMeta | None, ...]], ...],
    settle_s: float = SETTLE_S,
) -> Generator[StringCommand, None, None]:
    """Each daemon whose start/restart operations ran is up; else the host fails with its journal."""
    if not state.is_executing:
        return
    due = [d for d, ops in daemons if _ran(ops)]
    if due:
        yield StringCommand(postcondition_script(hostname, due, settle_s))


def service(
    unit: str,
    name: str,
    restart_name: str | None = None,
    restart_when: Callable[[], bool] | None = None,
) -> tuple[OperationMeta, ...]:
    """`unit` enabled and running; restarted when `restart_when()` is true at execution.

    Failures are not the host's end here: the post-condition that follows reports them.
    """
    ops = [
        systemd.service(name=name, service=unit, running=True, enabled=True, _ignore_errors=True)
    ]
    if restart_when is not None:
        ops.append(
            systemd.service(
                name=restart_name or f"Restart {unit}",
                service=unit,
                restarted=True,
                _if=restart_when,
                _ignore_errors=True,
            )
        )
    return tuple(ops)


def prove(daemons: Sequence[tuple[Daemon, Sequence[OperationMeta | None]]], name: str) -> None:
    """The post-condition for several daemons at once (one wait, one settle)."""
    proven_active(
        name=name,
        hostname=context.hostname(),
        daemons=tuple((d, tuple(ops)) for d, ops in daemons),
    )


def daemon(
    spec: Daemon | str,
    name: str,
    restart_name: str | None = None,
    restart_when: Callable[[], bool] | None = None,
) -> tuple[OperationMeta, ...]:
    """`service` followed by its post-condition; returns the start/restart operations."""
    spec = Daemon(spec) if isinstance(spec, str) else spec
    ops = service(spec.unit, name, restart_name, restart_when)
    prove([(spec, ops)], f"{spec.unit} active")
    return ops


def postcondition_script(hostname: str, daemons: Sequence[Daemon], settle_s: float) -> str:
    """POSIX sh: wait for each daemon (bounded), settle, re-check; report every failure, exit 1.

    A failure prints `HOST: UNIT is STATE ...; last N journal lines:` and the lines, indented.
    """
    q = shlex.quote
    lines = [
        "ok=1",
        # A TCP socket in LISTEN (0A) state on the port, IPv4 or IPv6.
        "listening() { p=$(printf ':%04X' \"$1\"); cat /proc/net/tcp /proc/net/tcp6 2>/dev/null"
        ' | awk -v p="$p" \'$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 }'
        " END { exit !f }'; }",
        # wait_active UNIT PORT TIMEOUT: sets st (the state seen last) and waited (seconds).
        "wait_active() { t0=$(date +%s); while :; do waited=$(( $(date +%s) - t0 ));"
        ' st=$(systemctl is-active "$1" 2>/dev/null); st=${st:-unknown};'
        ' if [ "$st" = active ]; then [ -z "$2" ] || listening "$2" && return 0;'
        ' st="active but not listening on port $2"; fi;'
        ' case "$st" in failed|inactive) return 1;; esac;'
        ' [ "$waited" -lt "$3" ] || return 1; sleep 0.5; done; }',
        # report UNIT WHAT LOGFILE
        f'report() {{ ok=0; echo "{_sh_double(hostname)}: $1 $2; last {JOURNAL_LINES}'
        ' journal lines:" >&2;'
        f' journalctl -u "$1" -n {JOURNAL_LINES} --no-pager -o short 2>&1 | sed "s/^/    /" >&2;'
        ' if [ -n "$3" ] && [ -r "$3" ]; then echo "  last lines of $3:" >&2;'
        f' tail -n {JOURNAL_LINES} "$3" | sed "s/^/    /" >&2; fi; }}',
    ]
    for i, d in enumerate(daemons):
        unit, port, log = q(d.unit), q(str(d.port or "")), q(d.log_file or "")
        lines.append(
            f"if wait_active {unit} {port} {d.timeout_s}; then"
            f" n{i}=$(systemctl show -p NRestarts --value {unit}); up{i}=1;"
            f' else up{i}=; report {unit} "is $st after its start (waited $waited of'
            f' {d.timeout_s} s)" {log}; fi'
        )
    lines.append(f"sleep {settle_s}")
    for i, d in enumerate(daemons):
        unit, log = q(d.unit), q(d.log_file or "")
        lines.append(
            f'if [ -n "$up{i}" ]; then st=$(systemctl is-active {unit} 2>/dev/null);'
            f" now=$(systemctl show -p NRestarts --value {unit});"
            f' if [ "$st" != active ] || [ "$now" != "$n{i}" ]; then'
            f' report {unit} "was active, then ${{st:-unknown}} (systemd restarts $n{i} -> $now)'
            f' within {settle_s} s" {log}; fi; fi'
        )
    lines.append('[ "$ok" = 1 ]')
    return "\n".join(lines)


def _sh_double(text: str) -> str:
    """`text` safe inside a double-quoted sh string."""
    return "".join("\\" + c if c in '"$`\\' else c for c in text)
