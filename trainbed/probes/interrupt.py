"""SIGINT and SIGTERM during a run: raise :class:`Interrupted` where the run can clean up.

:class:`SignalGuard` turns the first SIGINT or SIGTERM into :class:`Interrupted` in the main
thread, so the run cancels the jobs it submitted, fetches what finished and writes partial
results before the command exits with the conventional status (128 + the signal: 130, 143).
Inside :meth:`SignalGuard.hold` (an sbatch call, whose job id must not be lost) the signal waits
until the block ends. Signals after the first are noted and ignored: the clean-up is bounded.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """The run got SIGINT or SIGTERM. A BaseException: ``except Exception`` does not stop it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(self.name)

    @property
    def exit_status(self) -> int:
        """The shell's status for a command ended by this signal: 128 + its number."""
        return 128 + self.signum


class SignalGuard:
    """A context in which SIGINT/SIGTERM raise :class:`Interrupted` once (main thread only)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._raised = False
        self._held = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        if self._held or self._raised:
            return
        self._raised = True
        raise Interrupted(signum)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Defer a signal until the block ends (then raise it, unless raised already)."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
        if not self._held and self.received is not None and not self._raised:
            self._raised = True
            raise Interrupted(self.received)


@contextmanager
def no_guard() -> Iterator[None]:
    """What :meth:`SignalGuard.hold` is when no guard is installed."""
    yield
