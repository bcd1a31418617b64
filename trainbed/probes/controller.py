"""Controller health: is a slurmctld in control, and which one? Asked before the suite is submitted
and again whenever a Slurm command fails with a controller error.

``scontrol ping`` says which slurmctld daemons answer (primary, backup), but a backup in standby
answers a ping too, so being *in control* is tested with a cheap controller RPC (``sinfo``) that
a standby backup does not serve: while the primary is dead and the backup has not taken over yet
(up to ``SlurmctldTimeout``), every client command blocks in Slurm's retry loop. The guard then
waits, bounded, for the takeover and records its delay; if no controller takes control, the run
stops submitting and every job not yet measured is "not measured (controller)". A controller
fault is reported as one finding naming the controller, never as a fault of the compute nodes
whose jobs it refused.

The takeover delay is counted from trainbed's first ``scontrol ping`` that found the primary DOWN
to the first RPC the backup answered: the primary may have died earlier than that.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from trainbed.parse.slurm import ControllerPing, parse_scontrol_ping
from trainbed.probes.jobs import NOT_MEASURED, Job
from trainbed.probes.localise import CONTROLLER, Finding
from trainbed.remote import Completed, SubmitHost

#: slurm.conf's SlurmctldTimeout as trainbed renders it (templates/slurm.conf.j2): how long the
#: backup waits for a silent primary before it takes control.
SLURMCTLD_TIMEOUT_S = 120.0
#: How long the run waits for a backup to take control: SlurmctldTimeout counts from the backup's
#: last good ping of the primary, then it reads the saved state (measured on the mock cluster:
#: 142 s from stopping the primary to the backup serving RPCs).
TAKEOVER_WAIT_S = SLURMCTLD_TIMEOUT_S + 90.0
#: A backup turning primary stops answering pings for a moment; every controller DOWN for longer
#: than this (no backup at all, or both dead) ends the wait.
ALL_DOWN_S = 30.0
#: The most the run spends waiting for controllers in all; past it, no more waits.
WAIT_BUDGET_S = 2 * TAKEOVER_WAIT_S
POLL_S = 2.0
PING_TIMEOUT_S = 30.0
#: A controller in control answers ``sinfo`` in well under a second; Slurm's own MessageTimeout
#: is 10 s. A fresh command per poll: one left blocking would back off up to half the
#: SlurmctldTimeout between retries and see a takeover late. The takeover delay is thus known to
#: within one poll (RPC_TIMEOUT_S + POLL_S).
RPC_TIMEOUT_S = 10.0
#: An RPC served this fast at the first try: the backup was in control before the run asked.
PROMPT_S = 2.0

#: Slurm's client error texts (src/common/slurm_errno.c) for a controller that cannot be reached,
#: and the remote runner's own "timed out" when a command blocked in Slurm's retry loop.
CONTROLLER_ERRORS = (
    "Unable to contact slurm controller",
    "Socket timed out",
    "Zero Bytes were transmitted or received",
    "backup controller in standby mode",
    "timed out",
)


#: The trigger of the check the run makes before its first sbatch.
BEFORE_SUBMITTING = "before submitting"


def is_controller_error(message: str | None) -> bool:
    """True when a Slurm client's message says the controller did not answer."""
    text = (message or "").lower()
    return any(needle.lower() in text for needle in CONTROLLER_ERRORS)


class ControllerLost(Exception):
    """No controller took control within the bound: nothing more can be submitted or followed."""


@dataclass(frozen=True, slots=True)
class ControllerCheck:
    """One look at the controllers: what ``scontrol ping`` said and whether an RPC was served."""

    at_s: float
    trigger: str
    pings: tuple[ControllerPing, ...]
    in_control: bool
    error: str | None = None

    def ping_text(self) -> str:
        """``cp1 DOWN, cp2 UP`` (or the ping's own error)."""
        if not self.pings:
            return f"no answer ({self.error or 'no output'})"
        return ", ".join(f"{p.host} {'UP' if p.up else 'DOWN'}" for p in self.pings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "at_s": round(self.at_s, 1),
            "trigger": self.trigger,
            "controllers": [{"role": p.role, "host": p.host, "up": p.up} for p in self.pings],
            "in_control": self.in_control,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Takeover:
    """A backup that took control after the primary stopped answering; ``delay_s`` None when it
    was in control already when the run first asked."""

    backup: str
    delay_s: float | None


@dataclass(slots=True)
class ControllerReport:
    """Everything the guard saw: checks in order, controllers found DOWN, takeover, loss."""

    controllers: tuple[str, ...]
    checks: list[ControllerCheck] = field(default_factory=list)
    takeover: Takeover | None = None
    lost: str | None = None  # why no controller was in control, when none was

    @property
    def down(self) -> list[str]:
        """Controllers at fault: the primary if any ping found it DOWN; another controller if
        the last ping that listed it did (a backup does not answer while it takes over)."""
        last: dict[str, bool] = {}
        primary_down: list[str] = []
        for check in self.checks:
            for p in check.pings:
                last[p.host] = p.up
                if p.role == "primary" and not p.up and p.host not in primary_down:
                    primary_down.append(p.host)
        others = [h for h, up in last.items() if not up and h not in primary_down]
        return primary_down + others

    @property
    def faulty(self) -> bool:
        """A controller was found DOWN or none was in control."""
        return bool(self.down) or self.lost is not None

    def findings(self, measured: bool) -> list[Finding]:
        """The controller fault as one finding (none when there was none).

        ``measured``: whether any job of the suite was measured at all.
        """
        if not self.faulty:
            return []
        parts = [
            f"controller {host}: slurmctld not answering (scontrol ping: DOWN)"
            for host in self.down
        ]
        if self.takeover is not None and self.takeover.delay_s is None:
            parts.append(f"backup {self.takeover.backup} in control (took over before the run)")
        elif self.takeover is not None:
            parts.append(
                f"backup {self.takeover.backup} took over after {self.takeover.delay_s:.0f} s"
            )
        if self.lost is not None:
            what = "nothing measured" if not measured else "the rest of the suite not measured"
            last = self.checks[-1].ping_text() if self.checks else "not run"
            parts.append(f"no controller answered: {what} ({self.lost}; scontrol ping: {last})")
        host = self.down[0] if self.down else (self.controllers[0] if self.controllers else None)
        evidence = "; ".join(parts)
        return [Finding(CONTROLLER, host, None, None, None, evidence, nodes=self.controllers)]

    def as_dict(self) -> dict[str, Any]:
        takeover = self.takeover
        return {
            "controllers": list(self.controllers),
            "checks": [c.as_dict() for c in self.checks],
            "down": list(self.down),
            "takeover": (
                {
                    "backup": takeover.backup,
                    "delay_s": None if takeover.delay_s is None else round(takeover.delay_s, 1),
                }
                if takeover
                else None
            ),
            "lost": self.lost,
        }


def not_measured(
    name: str, suite: str, nodes: Sequence[str], why: str, job_id: str | None = None
) -> Job:
    """The record of a job the controller kept from being measured."""
    return Job(job_id, name, suite, tuple(nodes), NOT_MEASURED, f"controller: {why}")


def lost_in_takeover(job: Job, guard: ControllerGuard) -> Job:
    """``job`` as not measured when it did not end by itself after a backup took control mid-run.

    A backup that does not share the primary's StateSaveLocation starts without the primary's
    jobs: squeue no longer lists them while accounting still shows them pending or running, and
    the run gives up on them (cancelled or vanished, with no elapsed time from Slurm). That says
    nothing about their nodes.
    """
    if not guard.changed_hands or job.job_id is None or job.completed:
        return job
    if job.elapsed_s is not None or not job.measured:
        return job  # Slurm ended it (it has an elapsed time), or it is not measured already
    backup = guard.report.takeover.backup if guard.report.takeover else "the backup"
    why = (
        f"job {job.job_id} did not end after {backup} took over ({job.state}: {job.reason}); "
        f"{backup} may not know it (StateSaveLocation not shared?)"
    )
    return not_measured(job.name, job.suite, job.nodes, why, job.job_id)


Progress = Callable[[str], None]


class ControllerGuard:
    """Asks the controllers, waits (bounded) for one to take control, keeps the report."""

    def __init__(
        self,
        remote: SubmitHost,
        controllers: Sequence[str],
        progress: Progress = lambda _: None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        takeover_s: float = TAKEOVER_WAIT_S,
        budget_s: float = WAIT_BUDGET_S,
    ) -> None:
        self.remote = remote
        self.progress = progress
        self.clock = clock
        self.sleep = sleep
        self.takeover_s = takeover_s
        self.budget_s = budget_s
        self.started = clock()
        self.waited_s = 0.0
        self.waits = 0
        #: A backup took control after jobs were submitted: jobs it does not know were lost
        #: with the controller, not by their nodes.
        self.changed_hands = False
        self.report = ControllerReport(tuple(controllers))
        self._primary_down_at: float | None = None

    @property
    def lost(self) -> bool:
        return self.report.lost is not None

    def ping(self) -> tuple[tuple[ControllerPing, ...], str | None]:
        """``scontrol ping``: the controllers, or an error when it printed none."""
        done = self.remote.run("scontrol ping", timeout=PING_TIMEOUT_S)
        pings = tuple(parse_scontrol_ping(done.stdout))
        return pings, None if pings else _message(done)

    def rpc_answered(self) -> bool:
        """A controller in control serves ``sinfo`` (a standby backup does not)."""
        done = self.remote.run(
            f"timeout {RPC_TIMEOUT_S:.0f} sinfo -h -o %P", timeout=RPC_TIMEOUT_S + 5
        )
        return done.ok

    def check(self, trigger: str) -> bool:
        """Whether a controller is in control; waits (bounded) for a takeover when the primary
        does not answer. False once no controller took control: the run must stop submitting."""
        if self.lost:
            return False
        pings, error = self.ping()
        if pings and pings[0].up:
            # The primary takes control back from a backup as soon as it answers again.
            self._record(trigger, pings, True, error)
            self._primary_down_at = None
            return True
        self._record(trigger, pings, False, error)
        if pings and self._primary_down_at is None:
            self._primary_down_at = self.clock()
        started = self.clock()
        try:
            return self._wait(trigger, pings)
        finally:
            self.waited_s += self.clock() - started

    def _wait(self, trigger: str, pings: tuple[ControllerPing, ...]) -> bool:
        start = self.clock()
        self.waits += 1
        bound = min(self.takeover_s, max(0.0, self.budget_s - self.waited_s))
        self.progress(
            f"controller: {_describe(pings)}; waiting up to {bound:.0f} s "
            "for a controller to take control"
        )
        all_down_since: float | None = None
        first = True
        while True:
            if pings and not any(p.up for p in pings):
                all_down_since = self.clock() if all_down_since is None else all_down_since
                if self.clock() - all_down_since >= ALL_DOWN_S:
                    return self._give_up(
                        pings, f"every slurmctld DOWN for {self.clock() - all_down_since:.0f} s"
                    )
            else:
                all_down_since = None
            asked = self.clock()
            if self.rpc_answered():
                prompt = first and self.clock() - asked < PROMPT_S
                self._answered(trigger, pings, already=prompt and self.waits == 1)
                return True
            first = False
            if self.clock() - start >= bound:
                return self._give_up(pings, f"none in control after {self.clock() - start:.0f} s")
            self.sleep(POLL_S)
            pings, error = self.ping()
            self._record(trigger, pings, False, error)

    def _answered(self, trigger: str, pings: tuple[ControllerPing, ...], already: bool) -> None:
        fresh, error = self.ping()  # who answers now that a controller serves RPCs
        pings = fresh or pings
        self._record(trigger, pings, True, error)
        backup = next((p.host for p in pings if p.up and p.role != "primary"), None)
        if backup is None or self._primary_down_at is None:
            self.progress("controller: in control again")
            return
        delay = None if already else self.clock() - self._primary_down_at
        if self.report.takeover is None:
            self.report.takeover = Takeover(backup, delay)
        self.changed_hands = self.changed_hands or trigger != BEFORE_SUBMITTING
        when = "before the run" if delay is None else f"after {delay:.0f} s"
        self.progress(f"controller: backup {backup} in control, took over {when}")

    def _give_up(self, pings: tuple[ControllerPing, ...], why: str) -> bool:
        self.report.lost = why
        self.progress(f"controller: {_describe(pings)}: {why}; nothing more is submitted")
        return False

    def _record(
        self, trigger: str, pings: tuple[ControllerPing, ...], in_control: bool, error: str | None
    ) -> None:
        at = self.clock() - self.started
        self.report.checks.append(ControllerCheck(at, trigger, pings, in_control, error))

    def on_slurm_error(self, command: str, done: Completed) -> None:
        """Hook for :class:`~trainbed.probes.slurm.Slurm` when squeue fails.

        Raises :class:`ControllerLost` when it was a controller error and no controller took
        control within the bound; returns otherwise (the caller retries as it would).
        """
        message = _message(done)
        if not is_controller_error(message):
            return
        self.progress(f"{command}: {message}; asking the controller")
        if not self.check(f"{command}: {message}"):
            raise ControllerLost(self.report.lost or "no controller in control")


def _describe(pings: tuple[ControllerPing, ...]) -> str:
    if not pings:
        return "scontrol ping gave no answer"
    return "scontrol ping: " + ", ".join(
        f"{p.role} {p.host} {'UP' if p.up else 'DOWN'}" for p in pings
    )


def _message(done: Completed) -> str:
    """A failed command's last line of output (``timed out`` when it ran past its bound)."""
    text = (done.stderr or done.stdout or "").strip()
    if done.returncode is None:
        return text or "timed out"
    return text.splitlines()[-1] if text else f"exited {done.returncode}"
