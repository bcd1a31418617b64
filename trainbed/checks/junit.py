"""Read the JUnit XML pytest writes for the checks, and summarise it per node.

Test ids carry the hostname first (`test_hca_port[gpu02-mlx5_4]`), so every test case names its
node and its check; a failure's message starts with the assertion's one-line expected vs actual.
A finding that does not fail its check (a GPU throttled, an XID outside the critical list) is a
``warning`` property of the test suite (the suite's `warn` fixture records it; the xunit2 schema
allows properties on the suite, not on a test case), its line starting with the node it names:
the one way the suite reports what passes but deserves a look.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

_PARAMS = re.compile(r"^(?P<check>[^\[]+)(?:\[(?P<params>.*)\])?$")
#: `AssertionError: `, `trainbed.remote.Unreachable: `, `Failed: ` in front of a message.
_EXCEPTION_PREFIX = re.compile(r"^(?:[A-Za-z_][\w]*\.)*[A-Z]\w*:\s+")
#: How a skip that is no verdict starts: the check could not run (its node did not answer).
COULD_NOT_RUN = "could not run"
#: The name of a test-suite property holding a finding that does not fail its check.
WARNING = "warning"


def could_not_run(why: str) -> str:
    """The skip message of a check that could not run: `could not run: gpu02: SSH to …`."""
    return f"{COULD_NOT_RUN}: {why}"


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One test case: the node it ran on, the check, its outcome and a one-line message."""

    node: str | None
    check: str
    module: str
    outcome: str  # passed, failed, error, skipped
    message: str = ""
    params: str = ""

    @property
    def test_id(self) -> str:
        return f"{self.check}[{self.params}]" if self.params else self.check


@dataclass(slots=True)
class NodeSummary:
    node: str
    role: str = ""
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    not_run: int = 0
    first_failure: str = ""
    failures: list[CaseResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def node_of(params: str, hostnames: Iterable[str] = ()) -> str | None:
    """The hostname a test's parameter id starts with.

    With `hostnames` the longest one that is the whole id or followed by `-` wins (hostnames may
    contain `-`); without, the id up to its first `-`.
    """
    if not params:
        return None
    best = None
    for host in hostnames:
        if (params == host or params.startswith(host + "-")) and (
            best is None or len(host) > len(best)
        ):
            best = host
    if best is not None or hostnames:
        return best
    return params.split("-", 1)[0]


def one_line(message: str) -> str:
    """The first line of a failure message without the exception class pytest puts in front."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return _EXCEPTION_PREFIX.sub("", first, count=1).strip()


def read_junit(path: str | Path, hostnames: Iterable[str] = ()) -> list[CaseResult]:
    """Every test case of a pytest JUnit file (one `testsuite`, or several under `testsuites`)."""
    root = ET.parse(path).getroot()
    hosts = list(hostnames)
    results = []
    for case in root.iter("testcase"):
        match = _PARAMS.match(case.get("name", ""))
        check = match.group("check") if match else case.get("name", "")
        params = (match.group("params") or "") if match else ""
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            element = case.find(tag)
            if element is not None:
                outcome = "failed" if tag == "failure" else tag
                message = one_line(element.get("message") or element.text or "")
                break
        results.append(
            CaseResult(
                node=node_of(params, hosts),
                check=check,
                module=case.get("classname", ""),
                outcome=outcome,
                message=message,
                params=params,
            )
        )
    return results


def read_warnings(path: str | Path) -> list[str]:
    """The `warning` properties of the file's test suites, in order."""
    root = ET.parse(path).getroot()
    return [
        prop.get("value", "")
        for suite in root.iter("testsuite")
        for prop in suite.iterfind("properties/property")
        if prop.get("name") == WARNING
    ]


def summarise(
    results: Iterable[CaseResult],
    roles: Mapping[str, str] | None = None,
    warnings: Iterable[str] = (),
) -> list[NodeSummary]:
    """Per-node counts, in the order of `roles` (inventory order) then as met.

    Failures include errors; checks that could not run are counted apart from other skips. Each
    warning goes to the node its line starts with (`(cluster)` when it names none of `roles`).
    """
    roles = roles or {}
    summaries: dict[str, NodeSummary] = {
        node: NodeSummary(node, role) for node, role in roles.items()
    }
    for result in results:
        node = result.node or "(cluster)"
        summary = summaries.setdefault(node, NodeSummary(node, roles.get(node, "")))
        if result.outcome == "passed":
            summary.passed += 1
        elif result.outcome == "skipped" and result.message.startswith(COULD_NOT_RUN):
            summary.not_run += 1
        elif result.outcome == "skipped":
            summary.skipped += 1
        else:
            summary.failed += 1
            summary.failures.append(result)
            if not summary.first_failure:
                summary.first_failure = f"{result.test_id}: {result.message}"
    for line in warnings:
        node = node_of(line.split(" ", 1)[0], roles) or "(cluster)"
        summaries.setdefault(node, NodeSummary(node, roles.get(node, ""))).warnings.append(line)
    return list(summaries.values())


def not_run_lines(summaries: Iterable[NodeSummary]) -> list[str]:
    """One uncut line per node whose checks could not run: its first failure (why), and how many."""
    return [
        f"{s.failures[0].message if s.failures else s.node} "
        f"({s.not_run} other check(s) of {s.node} could not run)"
        for s in summaries
        if s.not_run
    ]


def warning_lines(summaries: Iterable[NodeSummary]) -> list[str]:
    """Every finding that did not fail its check, one uncut line each, in node order."""
    return [line for s in summaries for line in s.warnings]


def format_table(summaries: Iterable[NodeSummary], width: int = 100) -> str:
    """A plain-text table: node, role, passed, failed, skipped, not run, warnings, first failure
    (cut)."""
    rows: list[tuple[str, ...]] = [
        ("node", "role", "passed", "failed", "skipped", "not run", "warnings", "first failure")
    ]
    for s in summaries:
        first = s.first_failure
        if len(first) > width:
            first = first[: width - 1] + "…"
        counts = (s.passed, s.failed, s.skipped, s.not_run, len(s.warnings))
        rows.append((s.node, s.role, *map(str, counts), first))
    widths = [max(len(row[i]) for row in rows) for i in range(7)]
    lines = []
    for row in rows:
        cells = [
            row[0].ljust(widths[0]),
            row[1].ljust(widths[1]),
            *(cell.rjust(w) for cell, w in zip(row[2:7], widths[2:7], strict=True)),
            row[7],
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
