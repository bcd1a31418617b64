"""Does a node show the GPUs its profile says? (`nvidia-smi` lists every GPU the driver sees.)"""

from __future__ import annotations

from trainbed.verdicts import mismatch


def problem(node: str, expected: int, found: int) -> str | None:
    """`gpu01 GPU count: expected 8, got 7`, or None when the count is the profile's."""
    return None if found == expected else mismatch(f"{node} GPU count", expected, found)
