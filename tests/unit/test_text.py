"""Sniffing binary input and escaping what reaches a terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainbed.text import binary_reason, printable

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.txt")))
def test_every_real_fixture_is_text(fixture: str) -> None:
    assert binary_reason((FIXTURES / fixture).read_bytes()) is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x7fELF\x02\x01\x01\x00\x00", "binary data (NUL byte at offset 7)"),
        (bytes(range(1, 32)) * 4, "binary data (112 control bytes in the first 124)"),
        (b"", None),
        (b"plain\r\nprogress \r 42%\tok\n", None),
    ],
)
def test_binary_reason(data: bytes, reason: str | None) -> None:
    assert binary_reason(data) == reason


def test_printable_escapes_and_cuts() -> None:
    assert printable("a\x1b[31mb\x07") == "a\\x1b[31mb\\x07"
    assert printable("x" * 10, limit=5) == "xxxx…"
    assert (
        printable("tab\tand\nnewline stay, \r does not") == "tab\tand\nnewline stay, \\x0d does not"
    )
