"""deploy/facts.py as data: for each case, the command the fact runs and the value of an output."""

from __future__ import annotations

import json
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
