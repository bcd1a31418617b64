"""The inventory JSON Schema and the translation of its errors into findings with paths."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainbed.inventory.rules import Finding

if TYPE_CHECKING:  # jsonschema is imported only to explain an invalid document
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

#: Package data (`trainbed/schemas/`), on disk wherever the package is installed.
SCHEMA_DIR = Path(str(files("trainbed") / "schemas"))
INVENTORY_SCHEMA = SCHEMA_DIR / "inventory.schema.json"

_UNEXPECTED = re.compile(r"'([^']+)' (?:was|were) unexpected|\('([^)]*)' (?:was|were) unexpected\)")


@cache
def validator(schema_path: Path = INVENTORY_SCHEMA) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

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


@cache
def _fast_validator(schema_path: Path = INVENTORY_SCHEMA) -> Any:
    import jsonschema_rs  # compiled (Rust); the verdict only: the messages are jsonschema's

    return jsonschema_rs.Draft202012Validator(json.loads(schema_path.read_text()))


def schema_findings(doc: Any) -> list[Finding]:
    """Every schema violation in `doc`, each as a finding at the offending node's path.

    A valid document is told so by the compiled validator; only an invalid one is walked by
    jsonschema, whose errors the findings are made from.
    """
    if _fast_validator().is_valid(doc):
        return []
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

    from jsonschema import validators

    return validators.extend(validator_class, {"properties": set_defaults})


@cache
def _default_filler(schema_path: Path = INVENTORY_SCHEMA) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    schema = json.loads(schema_path.read_text())
    return _fill_defaults(Draft202012Validator)(schema)


class _Unsupported(Exception):
    """The schema reaches a default through a keyword `_fill` does not follow."""


def _reaches_default(
    schema: Any, defs: Mapping[str, Any], seen: frozenset[str] = frozenset()
) -> bool:
    if isinstance(schema, list):
        return any(_reaches_default(s, defs, seen) for s in schema)
    if not isinstance(schema, Mapping):
        return False
    if "default" in schema:
        return True
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref not in seen and _reaches_default(defs[ref], defs, seen | {ref}):
        return True
    children = [*schema.get("properties", {}).values()]
    children += [schema[k] for k in ("additionalProperties", "items", "anyOf") if k in schema]
    return _reaches_default(children, defs, seen)


@cache
def _schema_and_defs(schema_path: Path = INVENTORY_SCHEMA) -> tuple[dict[str, Any], dict[str, Any]]:
    schema = json.loads(schema_path.read_text())
    defs = {f"#/$defs/{name}": sub for name, sub in schema.get("$defs", {}).items()}
    return schema, defs


def _fill(schema: Any, instance: Any, defs: Mapping[str, Any]) -> None:
    """What `_fill_defaults`' validator does to a valid `instance`, without validating it: every
    absent property with a default is set before the property's own schema is followed."""
    if not isinstance(schema, Mapping):
        return
    ref = schema.get("$ref")
    if ref is not None:
        if ref not in defs:
            raise _Unsupported(ref)
        _fill(defs[ref], instance, defs)
    if "anyOf" in schema and _reaches_default(schema["anyOf"], defs):
        raise _Unsupported("anyOf")  # which branch applies needs validation
    if isinstance(instance, dict):
        properties = schema.get("properties", {})
        for name, subschema in properties.items():
            if isinstance(subschema, Mapping) and "default" in subschema:
                instance.setdefault(name, copy.deepcopy(subschema["default"]))
        for name, subschema in properties.items():
            if name in instance:
                _fill(subschema, instance[name], defs)
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            for name, value in instance.items():
                if name not in properties:
                    _fill(extra, value, defs)
    elif isinstance(instance, list) and isinstance(schema.get("items"), Mapping):
        for item in instance:
            _fill(schema["items"], item, defs)


def apply_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    """Set the schema's defaults in `doc`, in place (its containers stay the same objects, so
    their source lines still resolve); `doc` must already be schema-valid. Returns `doc`.

    A walk of the schema beside the document does it (jsonschema's recipe, `_fill_defaults`,
    validates the whole document again to the same effect, at several times the cost); a
    schema the walk cannot follow gets the recipe."""
    if not _fast_validator().is_valid(doc):
        raise ValueError("apply_defaults needs a schema-valid document")
    schema, defs = _schema_and_defs()
    try:
        _fill(schema, doc, defs)
    except _Unsupported:
        return apply_defaults_by_validation(doc)
    return doc


def apply_defaults_by_validation(doc: dict[str, Any]) -> dict[str, Any]:
    """`apply_defaults` by jsonschema's recipe: the reference the walk is tested against."""
    for error in _default_filler().iter_errors(doc):
        raise ValueError(f"apply_defaults needs a schema-valid document: {error.message}")
    return doc
