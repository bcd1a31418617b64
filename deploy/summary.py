"""The run's last word: one line per failed host naming what failed it.

pyinfra's results table counts errors per operation but names no host; with many hosts, the
failure printed mid-run scrolls away. This callback prints, after the table, each failed host
with the operations that erred on it (a daemon's start and its post-condition, say).
"""

from __future__ import annotations

from pyinfra import logger
from pyinfra.api.host import Host
from pyinfra.api.state import BaseStateCallback, State


class FailureSummary(BaseStateCallback):
    """Collects erring operations per host; prints the failed hosts once all are disconnected."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}
        self.disconnected = 0

    def operation_host_error(  # type: ignore[override]
        self, state: State, host: Host, op_hash: str, retry_count: int = 0, max_retries: int = 0
    ) -> None:
        names = ", ".join(sorted(state.get_op_meta(op_hash).names))
        self.errors.setdefault(host.name, []).append(names)

    def host_disconnect(self, state: State, host: Host) -> None:  # type: ignore[override]
        self.disconnected += 1
        if self.disconnected == len(state.activated_hosts):
            for line in summary_lines(sorted(h.name for h in state.failed_hosts), self.errors):
                logger.error(line)


def summary_lines(failed: list[str], errors: dict[str, list[str]]) -> list[str]:
    """`--> N host(s) failed: A, B` then `    A: op; op` per host (pure, for tests)."""
    if not failed:
        return []
    lines = [f"--> {len(failed)} host(s) failed: {', '.join(failed)}"]
    for name in failed:
        lines.append(
            f"    {name}: {'; '.join(errors.get(name, [])) or 'failed before any operation ran (connect or prepare)'}"
        )
    return lines


def install(state: State) -> None:
    """Register the summary once per run (the deploy file runs once per host)."""
    if not any(isinstance(h, FailureSummary) for h in state.callback_handlers):
        state.add_callback_handler(FailureSummary())
