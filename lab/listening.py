"""Bounded waits for a server to be ready, instead of a fixed start-up sleep."""

from __future__ import annotations

import time
from collections.abc import Callable

#: The `st` column of /proc/net/tcp for a listening socket.
_LISTEN = "0A"


def listening(proc_net_tcp: str, port: int) -> bool:
    """Whether the /proc/net/tcp table `proc_net_tcp` holds a socket listening on `port`."""
    for line in proc_net_tcp.splitlines()[1:]:
        fields = line.split()
        if (
            len(fields) > 3
            and fields[3] == _LISTEN
            and fields[1].rsplit(":", 1)[-1] == f"{port:04X}"
        ):
            return True
    return False


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
