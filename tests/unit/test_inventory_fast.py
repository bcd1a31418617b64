"""The fast validation path agrees with jsonschema: same verdicts, same defaults (issue 17)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.conftest import PROD_YAML
from tests.unit.test_inventory_defaults import _without_defaulted_keys
from tests.unit.test_inventory_validate import CASES, SCHEMA_CASES, Mutation
from tests.unit.test_render_golden import CONFIG2
from trainbed.inventory.generate import generate_inventory
from trainbed.inventory.schema import (
    _fast_validator,
    apply_defaults,
    apply_defaults_by_validation,
    schema_findings,
    validator,
)


def _docs() -> dict[str, dict[str, Any]]:
    prod = yaml.safe_load(PROD_YAML.read_text())
    return {
        "prod": prod,
        "config2": yaml.safe_load(CONFIG2.read_text()),
        "prod without its defaulted keys": _without_defaulted_keys(prod),
        "generated, config 1": generate_inventory(4, 1),
        "generated, config 2": generate_inventory(4, 2),
    }


@pytest.mark.parametrize(("name", "doc"), list(_docs().items()))
def test_the_walk_sets_the_defaults_the_recipe_sets(name: str, doc: dict[str, Any]) -> None:
    assert schema_findings(doc) == []
    walked, validated = copy.deepcopy(doc), copy.deepcopy(doc)
    apply_defaults(walked)
    apply_defaults_by_validation(validated)
    assert walked == validated


@pytest.mark.parametrize(("name", "mutate"), [(case[0], case[1]) for case in CASES + SCHEMA_CASES])
def test_the_compiled_verdict_is_jsonschemas(name: str, mutate: Mutation) -> None:
    doc = yaml.safe_load(PROD_YAML.read_text())
    mutate(doc)
    valid = not any(True for _ in validator().iter_errors(doc))
    assert _fast_validator().is_valid(doc) == valid


def test_apply_defaults_refuses_an_invalid_document() -> None:
    doc = yaml.safe_load(PROD_YAML.read_text())
    doc["ssh"]["port"] = "twenty-two"
    with pytest.raises(ValueError, match="schema-valid"):
        apply_defaults(doc)
