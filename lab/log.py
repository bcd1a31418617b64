"""Progress messages on stderr with the elapsed time since start."""

from __future__ import annotations

import sys
import time

_START = time.monotonic()


def log(message: str) -> None:
    """Print ``[  12.3s] message`` to stderr."""
    print(f"[{time.monotonic() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)
