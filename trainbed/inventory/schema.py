"""The inventory JSON Schema and the translation of its errors into findings with paths."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from trainbed.inventory.rules import Finding

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
INVENTORY_SCHEMA = SCHEMA_DIR / "inventory.schema.json"

_UNEXPECTED = re.compile(r"'([^']+)' (?:was|were) unexpected|\('([^)]*)' (?:was|were) unexpected\)")


@cache
def validator(schema_path: Path = INVENTORY_SCHEMA) -> Draft202012Validator:
    schema = json.loads(schema_path.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _deepest(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf failures, the alternative that got furthest says the most."""
    if not error.context:
        return error
    return max(error.context, key=lambda e: (len(e.absolute_path), -len(e.context or ())))


def _findings(error: ValidationError) -> Iterator[Finding]:
    error = _deepest(error) if error.validator in ("anyOf", "oneOf") else error
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        for key in error.instance:
            if key not in allowed:
                hint = f" (allowed: {', '.join(sorted(allowed))})" if allowed else ""
                yield Finding((*path, key), f"unknown field {key!r}{hint}")
        return
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        yield Finding(path, f"missing required field {missing!r}")
        return
    if error.validator == "pattern":
        what = error.schema.get("description")
        yield Finding(
            path,
            f"{error.instance!r} does not match the expected form {error.validator_value}"
            + (f" ({what})" if what else ""),
        )
        return
    yield Finding(path, error.message)


def schema_findings(doc: Any) -> list[Finding]:
    """Every schema violation in `doc`, each as a finding at the offending node's path."""
    return [finding for error in validator().iter_errors(doc) for finding in _findings(error)]
