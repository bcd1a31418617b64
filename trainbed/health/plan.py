"""What the node must be, for its health program: the catalog's `health` block.

Compiled on the admin side by `trainbed.catalog.compile` from the inventory, installed in
`/etc/trainbed/catalog.json`, read back on the node by `from_catalog`. Plain data only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class HcaPort:
    """An HCA port the node must have up: `rate_gbps` and `link_layer` as the fabric runs."""

    device: str
    port: int
    rate_gbps: int | None = None
    link_layer: str | None = None


@dataclass(frozen=True, slots=True)
class HealthPlan:
    """The expected state and the settings of every level.

    `gpus`: GPUs the profile has (0: no GPU checks); `nvlink`: the GPUs sit on an NVSwitch
    baseboard (NVLinks judged, fabric manager among `units`); `units`: systemd units that must
    be active; `mounts`: mount points that must be mounted; `time_sync`: chronyd keeps the clock
    (judged from `chronyc tracking` against `clock_offset_s`). Thresholds are the inventory's
    `health.thresholds` for XIDs and DCGM; the rest are `health:` settings.
    """

    gpus: int = 0
    nvlink: bool = False
    hcas: tuple[HcaPort, ...] = ()
    units: tuple[str, ...] = ()
    mounts: tuple[str, ...] = ()
    time_sync: bool = False
    clock_offset_s: float = 1
    xid_window_hours: float = 24
    critical_xids: tuple[int, ...] = ()
    command_timeout_s: int = 8
    prolog_dcgm_timeout_s: int = 40
    epilog_dcgm_timeout_s: int = 900
    auto_resume: bool = True
    could_not_run_drain_after: int = 3
    interval_s: int = 300

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return json.loads(json.dumps(data))  # tuples → lists, as the catalog JSON holds them


def from_dict(data: dict[str, Any]) -> HealthPlan:
    """The plan from the catalog's `health` object; keys it does not know are ignored (a newer
    catalog read by an older program)."""
    known = set(HealthPlan.__dataclass_fields__)
    values = {k: v for k, v in data.items() if k in known}
    values["hcas"] = tuple(HcaPort(**h) for h in values.get("hcas", ()))
    for key in ("units", "mounts", "critical_xids"):
        if key in values:
            values[key] = tuple(values[key])
    return HealthPlan(**values)


@dataclass(frozen=True, slots=True)
class NodeCatalog:
    """What the program needs of the catalog: the node's name and its plan."""

    hostname: str
    plan: HealthPlan = field(default_factory=HealthPlan)


def from_catalog(path: Path) -> NodeCatalog:
    """Read the installed catalog; `ValueError` names what is wrong with it."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("health"), dict):
        raise ValueError(f"{path}: no health block (not a compute node's catalog?)")
    try:
        return NodeCatalog(str(doc["hostname"]), from_dict(doc["health"]))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: health: {exc}") from exc
