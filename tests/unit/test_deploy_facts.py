"""deploy/facts.py as data: for each case, the command the fact runs and the value of an output."""

from __future__ import annotations

import getpass
import grp
import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deploy import facts
from tests.conftest import REPO

CASES: dict[str, list[dict[str, Any]]] = json.loads(
    (REPO / "tests" / "fixtures" / "facts" / "cases.json").read_text()
)
PARAMS = [
    pytest.param(name, case, id=f"{name}: {case['name']}")
    for name, cases in CASES.items()
    if not name.startswith("_")
    for case in cases
]


def _jsonable(value: Any) -> Any:
    """Sets as sorted lists, tuples as lists: the cases' JSON form."""
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    return value


@pytest.mark.parametrize(("name", "case"), PARAMS)
def test_fact(name: str, case: dict[str, Any]) -> None:
    fact = getattr(facts, name)()
    args = [tuple(a) if isinstance(a, list) else a for a in case["arg"]]
    if "command" in case:
        assert fact.command(*args) == case["command"]
    assert _jsonable(fact.process(case["output"])) == case["fact"]


def test_every_fact_has_cases() -> None:
    defined = {
        name
        for name, value in vars(facts).items()
        if isinstance(value, type)
        and issubclass(value, facts.FactBase)
        and value is not facts.FactBase
    }
    assert defined <= set(CASES), defined - set(CASES)


def test_file_states_reads_each_kind_under_sh(tmp_path: Path) -> None:
    """FileStates' command run by sh on a real tree: a file (mode, owner, sha1), a directory, links
    (to a directory and dangling: not followed), a FIFO, a missing path and a name with a space."""
    (tmp_path / "my file").write_text("hi\n")
    (tmp_path / "my file").chmod(0o640)
    (tmp_path / "d").mkdir(mode=0o750)
    (tmp_path / "d").chmod(0o1750)
    (tmp_path / "to-d").symlink_to(tmp_path / "d")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "fifo")
    names = ("my file", "d", "to-d", "dangling", "fifo", "missing")
    paths = tuple(str(tmp_path / n) for n in names)
    out = subprocess.run(
        ["sh", "-c", facts.FileStates().command(paths)], capture_output=True, text=True, check=True
    ).stdout
    owner = f"{getpass.getuser()}:{grp.getgrgid(os.getgid()).gr_name}"
    assert facts.FileStates().process(out.splitlines()) == {
        paths[0]: ("file", f"640:{owner}", hashlib.sha1(b"hi\n").hexdigest()),
        paths[1]: ("directory", f"1750:{owner}"),
        paths[2]: ("link",),
        paths[3]: ("link",),
        paths[4]: ("other",),
    }
