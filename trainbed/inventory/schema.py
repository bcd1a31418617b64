"""The inventory JSON Schema and the translation of its errors into findings with paths."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from trainbed.inventory.rules import Finding

#: Package data (`trainbed/schemas/`), on disk wherever the package is installed.
SCHEMA_DIR = Path(str(files("trainbed") / "schemas"))
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
    # The failing subschema: a mapping for every keyword handled here (a bool schema has no keywords).
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(schema.get("properties", {}))
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
        what = schema.get("description")
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


def _fill_defaults(validator_class: type[Draft202012Validator]) -> type[Draft202012Validator]:
    """`validator_class` that, while it validates, sets every absent property that has a default.

    jsonschema's documented recipe: the default is set before the property's own schema runs, so
    an object default (`{}`) gets its members' defaults too.
    """
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(
        validator: Any, properties: dict[str, Any], instance: Any, schema: dict[str, Any]
    ) -> Iterator[ValidationError]:
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


@cache
def _default_filler(schema_path: Path = INVENTORY_SCHEMA) -> Draft202012Validator:
    schema = json.loads(schema_path.read_text())
    return _fill_defaults(Draft202012Validator)(schema)


def apply_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    """Set the schema's defaults in `doc`, in place (its containers stay the same objects, so
    their source lines still resolve); `doc` must already be schema-valid. Returns `doc`."""
    for error in _default_filler().iter_errors(doc):
        raise ValueError(f"apply_defaults needs a schema-valid document: {error.message}")
    return doc
