"""Read YAML while remembering where every value came from.

Errors must name the file and line of the offending node, so the loader records, for every mapping
and sequence it builds, the line of the container and of each key or item. Parsing stays in libyaml
(`CSafeLoader`) when it is available; only construction runs in Python, as it does for any loader.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class SourceProblem(Exception):
    """The file cannot be read as a YAML mapping; `line` is 1-based, 0 when unknown."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}: {self.message}"
            if self.line
            else f"{self.file}: {self.message}"
        )


@dataclass
class LineMap:
    """Lines of the containers of one document, keyed by the container's identity."""

    mappings: dict[int, tuple[int, dict[Any, int]]] = field(default_factory=dict)
    sequences: dict[int, tuple[int, list[int]]] = field(default_factory=dict)

    def line_of(self, data: Any, path: Path_) -> int:
        """Line of the deepest node on `path` that exists in `data` (the document root: its line)."""
        line = 1
        node = data
        for step in path:
            if isinstance(node, dict) and id(node) in self.mappings:
                start, keys = self.mappings[id(node)]
                line = keys.get(step, start)
                if step not in node:
                    return line
            elif isinstance(node, list) and id(node) in self.sequences:
                start, items = self.sequences[id(node)]
                if not isinstance(step, int) or not 0 <= step < len(items):
                    return start
                line = items[step]
            else:
                return line
            node = node[step]
        return line


class _BadValue(Exception):
    """A scalar its tag cannot construct (``!!int x``), at the scalar's 1-based line."""

    def __init__(self, reason: str, line: int) -> None:
        super().__init__(reason)
        self.reason, self.line = reason, line


def _construct(loader: Any, node: yaml.Node) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, TypeError) as err:
        raise _BadValue(f"{node.tag}: {err}", node.start_mark.line + 1) from None


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int, first_line: int) -> None:
        super().__init__(key)
        self.key, self.line, self.first_line = key, line, first_line


def _make_loader(lines: LineMap) -> type:
    class Loader(_BaseLoader):
        pass

    def construct_mapping(loader: Any, node: yaml.MappingNode) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _DuplicateKey(key, line, seen[key])
            seen[key] = line
        loader.flatten_mapping(node)
        data: dict[Any, Any] = {}
        key_lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = _construct(loader, key_node)
            data[key] = _construct(loader, value_node)
            key_lines[key] = key_node.start_mark.line + 1
        lines.mappings[id(data)] = (node.start_mark.line + 1, key_lines)
        return data

    def construct_sequence(loader: Any, node: yaml.SequenceNode) -> list[Any]:
        items = [_construct(loader, child) for child in node.value]
        lines.sequences[id(items)] = (
            node.start_mark.line + 1,
            [child.start_mark.line + 1 for child in node.value],
        )
        return items

    Loader.add_constructor("tag:yaml.org,2002:map", construct_mapping)
    Loader.add_constructor("tag:yaml.org,2002:seq", construct_sequence)
    return Loader


#: libyaml contexts whose mark is where the mistake is: the scanner notices an unclosed quote, a
#: key without ':' or an unclosed flow collection only on a later line (its problem mark).
_CONTEXT_IS_THE_MISTAKE = ("while scanning", "while parsing a flow")


def _where_and_what(err: yaml.MarkedYAMLError) -> tuple[int, str]:
    """The 1-based line of the mistake (0 when unknown) and libyaml's words for it."""
    what = " ".join(part for part in (err.context, err.problem) if part)
    context, problem = err.context_mark, err.problem_mark
    if context and err.context and err.context.startswith(_CONTEXT_IS_THE_MISTAKE):
        if problem and problem.line != context.line:
            what += f" (noticed on line {problem.line + 1})"
        return context.line + 1, what
    mark = problem or context
    return (mark.line + 1 if mark else 0), what


@contextmanager
def _cyclic_gc_off() -> Iterator[None]:
    """The loader makes containers by the hundred thousand and no cycles: without this, Python's
    cyclic collector runs over them again and again, more than half of the load's time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_yaml(text: str, file: str) -> tuple[Any, LineMap]:
    """Parse one YAML document from `text`; raise `SourceProblem` naming `file` and line."""
    lines = LineMap()
    try:
        with _cyclic_gc_off():
            data = yaml.load(text, Loader=_make_loader(lines))
    except _DuplicateKey as dup:
        raise SourceProblem(
            file, dup.line, f"duplicate key {dup.key!r} (first defined on line {dup.first_line})"
        ) from None
    except _BadValue as bad:
        raise SourceProblem(file, bad.line, f"invalid YAML value: {bad.reason}") from None
    except yaml.MarkedYAMLError as err:
        line, what = _where_and_what(err)
        raise SourceProblem(file, line, f"invalid YAML: {what}") from None
    except yaml.YAMLError as err:
        raise SourceProblem(file, 0, f"invalid YAML: {err}") from None
    return data, lines


def read_yaml_file(path: Path) -> tuple[Any, LineMap]:
    """Read and parse `path`; a missing, unreadable, empty or non-UTF-8 file is a `SourceProblem`."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SourceProblem(file, 0, "no such file") from None
    except IsADirectoryError:
        raise SourceProblem(file, 0, "is a directory, not an inventory file") from None
    except OSError as err:
        raise SourceProblem(file, 0, f"cannot read: {err.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SourceProblem(file, 0, f"not UTF-8 text (byte {err.start})") from None
    data, lines = parse_yaml(text, file)
    if data is None:
        raise SourceProblem(file, 0, "the file is empty: an inventory is a YAML mapping")
    if not isinstance(data, dict):
        raise SourceProblem(
            file, 1, f"the top level must be a mapping, not a {type(data).__name__}"
        )
    return data, lines
