"""The JUnit schema pytest validates its own xunit2 output against (pytest's
testing/example_scripts/junit-10.xsd), as element and attribute rules: no XSD library needed."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

SUREFIRE_TIME = re.compile(r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]{0,3})?")
_RERUN = ({"type"}, {"message"}, {"stackTrace", "system-out", "system-err"})
#: element → (required attributes, optional attributes, allowed children)
RULES: dict[str, tuple[set[str], set[str], set[str]]] = {
    "testsuites": (set(), {"name", "time", "tests", "failures", "errors"}, {"testsuite"}),
    "testsuite": (
        {"name", "tests", "failures", "errors"},
        {"group", "time", "skipped", "timestamp", "hostname", "id", "package", "file", "log"}
        | {"url", "version"},
        {"testsuite", "properties", "testcase", "system-out", "system-err"},
    ),
    "properties": (set(), set(), {"property"}),
    "property": ({"name", "value"}, set(), set()),
    "testcase": (
        {"name"},
        {"time", "classname", "group"},
        {"skipped", "errors", "failure", "system-out", "system-err"}
        | {"rerunFailure", "rerunError", "flakyFailure", "flakyError"},
    ),
    "failure": (set(), {"type", "message"}, set()),
    "errors": (set(), {"type", "message"}, set()),
    "skipped": (set(), {"type", "message"}, set()),
    "system-out": (set(), set(), set()),
    "system-err": (set(), set(), set()),
    "rerunFailure": _RERUN,
    "rerunError": _RERUN,
    "flakyFailure": _RERUN,
    "flakyError": _RERUN,
    "stackTrace": (set(), set(), set()),
}


def schema_problems(root: ET.Element) -> list[str]:
    """Where the document departs from the schema; empty when it validates."""
    problems = []
    if root.tag not in ("testsuites", "testsuite"):
        problems.append(f"root element {root.tag}")
    for element in root.iter():
        rule = RULES.get(element.tag)
        if rule is None:
            problems.append(f"element {element.tag} not in the schema")
            continue
        required, optional, children = rule
        attrs = set(element.attrib)
        if not required <= attrs:
            problems.append(f"{element.tag} lacks {sorted(required - attrs)}")
        if attrs - required - optional:
            problems.append(f"{element.tag} has unknown {sorted(attrs - required - optional)}")
        for child in element:
            if child.tag not in children:
                problems.append(f"{child.tag} inside {element.tag}")
        time = element.get("time")
        timed = element.tag in ("testsuite", "testsuites") and time is not None
        if timed and not SUREFIRE_TIME.fullmatch(time):
            problems.append(f"{element.tag} time {time!r}")
    return problems
