"""Bytes from a file or a remote command, made safe to judge and to print on a terminal.

Benchmark output is text, but a wrong path (`trainbed parse ib-write-bw /bin/ls`) or a broken node
can hand over anything; escape bytes must never reach the terminal raw.
"""

from __future__ import annotations

import re

#: How much of the input is sniffed for binary content.
SNIFF_BYTES = 8192
#: Share of control bytes (other than tab, CR and LF) above which
#: the input is binary; captured progress bars stay well below it.
CONTROL_SHARE = 0.10

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_BYTES = bytes(b for b in range(256) if b < 32 and b not in (9, 10, 13)) + b"\x7f"


def binary_reason(data: bytes) -> str | None:
    """Why `data` is not text output (a NUL byte, or too many control bytes), else None."""
    head = data[:SNIFF_BYTES]
    nul = head.find(b"\x00")
    if nul >= 0:
        return f"binary data (NUL byte at offset {nul})"
    if not head:
        return None
    control = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if control / len(head) > CONTROL_SHARE:
        return f"binary data ({control} control bytes in the first {len(head)})"
    return None


def printable(text: str, limit: int = 300) -> str:
    """`text` with control characters but tab and newline escaped (``\\x1b``), cut to `limit`."""
    safe = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"
