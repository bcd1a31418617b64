"""Start-up cost: the CLI imports nothing heavy that only one command needs."""

from __future__ import annotations

import subprocess
import sys

import pytest

#: Modules only a drawing or reporting command needs (matplotlib alone is ~0.35 s to import).
HEAVY = ("matplotlib", "numpy")


@pytest.mark.parametrize("module", HEAVY)
def test_cli_start_does_not_import(module: str) -> None:
    code = f"import sys, trainbed.cli; print({module!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", f"`import trainbed.cli` imports {module}"
