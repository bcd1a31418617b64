"""`trainbed health INVENTORY`: each node's last health run, its age and its Slurm state (pure).

The admin side reads every node's `STATE_DIR/last.json` and the controller's
`scontrol show node`; this module turns what came back into one row per node.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from trainbed.health import TAG
from trainbed.parse.slurm import SlurmNode


@dataclass(frozen=True, slots=True)
class Row:
    """One node: its last run (`result` None: no run recorded, `error` says why) and Slurm's view."""

    node: str
    level: str | None
    result: str | None
    age_s: float | None
    seconds: float | None
    first_problem: str | None
    slurm_state: str
    slurm_reason: str | None
    drained_by_trainbed: bool
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _first_problem(doc: Mapping[str, Any]) -> str | None:
    for verdict in doc.get("verdicts", []):
        for line in verdict.get("failures") or []:
            return str(line)
    for verdict in doc.get("verdicts", []):
        if verdict.get("could_not_run"):
            return str(verdict["could_not_run"])
    return None


def row(
    node: str,
    last: str | None,
    error: str | None,
    slurm: SlurmNode | None,
    now: datetime,
    in_slurm: bool = True,
) -> Row:
    """The row of `node` from its `last.json` text (None: none read, `error` why); a node not
    in Slurm (`in_slurm` false: a control-plane node) has the state `-`."""
    state = (slurm.fields.get("State") or slurm.state or "UNKNOWN") if slurm else "MISSING"
    state = state if in_slurm else "-"
    reason = slurm.reason if slurm else None
    ours = bool(slurm and slurm.drained and (reason or "").startswith(TAG))
    doc: Any = None
    if last is not None:
        try:
            doc = json.loads(last)
        except ValueError:
            error = "last.json is not JSON"
    if not isinstance(doc, dict):
        return Row(
            node, None, None, None, None, None, state, reason, ours, error or "no run recorded"
        )
    try:
        age = (now - datetime.fromisoformat(str(doc.get("time")))).total_seconds()
    except ValueError:
        age = None
    return Row(
        node,
        doc.get("level"),
        doc.get("result"),
        age,
        doc.get("seconds"),
        _first_problem(doc),
        state,
        reason,
        ours,
    )


def rows(
    nodes: Iterable[str],
    lasts: Mapping[str, tuple[str | None, str | None]],
    slurm: Iterable[SlurmNode],
    now: datetime,
    slurm_nodes: Collection[str] | None = None,
) -> list[Row]:
    """One row per node, in the given order; `lasts` maps node → (last.json text, error);
    `slurm_nodes` the nodes Slurm knows (None: all)."""
    by_name = {n.name: n for n in slurm}
    return [
        row(
            n,
            *lasts.get(n, (None, "not read")),
            by_name.get(n),
            now,
            slurm_nodes is None or n in slurm_nodes,
        )
        for n in nodes
    ]


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.0f}m" if seconds < 7200 else f"{seconds / 3600:.1f}h"


def table(found: Iterable[Row]) -> list[str]:
    """Aligned lines: node, result, level, age, Slurm state, then the reason or first problem."""
    head = ("NODE", "RESULT", "LEVEL", "AGE", "SLURM", "DETAIL")
    lines = [
        (
            r.node,
            r.result or "none",
            r.level or "-",
            _age(r.age_s),
            r.slurm_state,
            r.slurm_reason or r.first_problem or r.error or "",
        )
        for r in found
    ]
    widths = [max(len(str(x[i])) for x in (head, *lines)) for i in range(5)]
    return [
        "  ".join(str(x[i]).ljust(widths[i]) for i in range(5)) + "  " + x[5]
        for x in (head, *lines)
    ]
