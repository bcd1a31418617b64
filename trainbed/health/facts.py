"""Read the node's facts: each one command, bounded by a timeout (the I/O edge).

A command that is missing, times out or fails is `NotRun` — "could not run", never a verdict.
The commands of one level run in parallel so that a level costs its slowest command.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from time import monotonic

from trainbed.verdicts import NotRun, not_run

#: The shell's exit code for a command it cannot find.
NOT_FOUND = 127


@dataclass(frozen=True, slots=True)
class Command:
    """One fact's command: `argv`, its timeout, and whether a non-zero exit is still an answer
    (`systemctl is-active` exits 3 for an inactive unit, dcgmi 226 for a failed test)."""

    what: str
    argv: tuple[str, ...]
    timeout_s: float
    any_exit: bool = False


@dataclass(frozen=True, slots=True)
class Fact:
    """A command's stdout (or why it could not run) and how long it took."""

    output: str | NotRun
    seconds: float


def run(command: Command) -> Fact:
    """Run one command in its own process group, killed whole at its timeout."""
    shown = " ".join(command.argv)
    start = monotonic()
    try:
        proc = subprocess.Popen(
            command.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        return Fact(NotRun(command.what, f"`{shown}`: {exc.strerror or exc}"), monotonic() - start)
    try:
        stdout, stderr = proc.communicate(timeout=command.timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        why = f"`{shown}` did not answer within {command.timeout_s:g} s"
        return Fact(NotRun(command.what, why), monotonic() - start)
    seconds = monotonic() - start
    if proc.returncode == NOT_FOUND:
        return Fact(NotRun(command.what, f"`{shown}`: command not found"), seconds)
    if proc.returncode != 0 and not command.any_exit:
        return Fact(not_run(command.what, shown, proc.returncode, stderr), seconds)
    return Fact(stdout, seconds)


def gather(commands: Mapping[str, Command], parallel: int = 8) -> dict[str, Fact]:
    """name → fact, every command at once."""
    if not commands:
        return {}
    names: Sequence[str] = list(commands)
    with ThreadPoolExecutor(max_workers=min(parallel, len(names))) as pool:
        facts = list(pool.map(lambda name: run(commands[name]), names))
    return dict(zip(names, facts, strict=True))
