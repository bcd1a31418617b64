"""Load an inventory: YAML with line numbers, JSON Schema, semantic rules, then the model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trainbed.errors import TrainbedError
from trainbed.inventory.build import build_inventory
from trainbed.inventory.model import Inventory
from trainbed.inventory.rules import Finding, check_rules, format_path
from trainbed.inventory.schema import apply_defaults, schema_findings
from trainbed.inventory.source import LineMap, SourceProblem, read_yaml_file


@dataclass(frozen=True, slots=True)
class Message:
    """One finding placed in its file: `FILE:LINE: [warning: ]PATH: message`."""

    file: str
    line: int
    path: str
    text: str
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:" if self.line else f"{self.file}:"
        prefix = " warning:" if self.severity == "warning" else ""
        path = f" {self.path}:" if self.path else ""
        return f"{where}{prefix}{path} {self.text}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "path": self.path,
            "message": self.text,
            "severity": self.severity,
        }


class InventoryError(TrainbedError):
    """The inventory is invalid; `errors` holds every error, `warnings` what else was found."""

    def __init__(self, errors: list[Message], warnings: list[Message]) -> None:
        super().__init__("\n".join(str(m) for m in errors))
        self.errors = errors
        self.warnings = warnings


@dataclass(frozen=True)
class LoadResult:
    inventory: Inventory
    warnings: list[Message]


def _place(findings: list[Finding], file: str, data: object, lines: LineMap) -> list[Message]:
    messages = [
        Message(file, lines.line_of(data, f.path), format_path(f.path), f.message, f.severity)
        for f in findings
    ]
    return sorted(messages, key=lambda m: m.line)


def load_inventory(path: str | Path) -> LoadResult:
    """Load and validate the inventory at `path`; raise `InventoryError` listing every error."""
    path = Path(path)
    file = str(path)
    try:
        data, lines = read_yaml_file(path)
    except SourceProblem as problem:
        raise InventoryError(
            [Message(problem.file, problem.line, "", problem.message)], []
        ) from None
    errors = _place(schema_findings(data), file, data, lines)
    if errors:
        # Semantic rules assume the schema's shape; report the structural errors first.
        raise InventoryError(errors, [])
    apply_defaults(data)  # the one place defaults are applied: the rules and the builder read them
    placed = _place(check_rules(data), file, data, lines)
    errors = [m for m in placed if m.severity == "error"]
    warnings = [m for m in placed if m.severity == "warning"]
    if errors:
        raise InventoryError(errors, warnings)
    return LoadResult(build_inventory(data, path.resolve()), warnings)
