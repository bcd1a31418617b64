"""Parser for ``mlxlink -d DEV -c`` / ``--show_ber`` output (MFT/mstflint): link state and BER.

Never raises. Reads the text form (``Section`` title, dashes, ``Key : value`` lines; values
may carry ANSI colour codes) and the ``--json`` form (``{"result": {"output": {section:
{key: value}}}}``). One device per output.

No real sample with provenance is in the fixture set, so the tests use clearly labelled
constructed input (``constructed_*``) following the layout mlxlink prints (mstflint
``mlxlink/modules/mlxlink_commander.cpp``: ``"Effective Physical BER"`` printed as
``<coef>E-<magnitude>``; ``15E-255`` is what it prints when no error was counted).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_KEY_VALUE = re.compile(r"^\s*(?P<key>[^:]+?)\s*:\s*(?P<value>.*?)\s*$")
_BER = re.compile(r"^(?P<coef>\d{1,30}(?:\.\d{1,30})?)E(?P<exp>[-+]?\d{1,6})$", re.IGNORECASE)


@dataclass(frozen=True)
class MlxlinkInfo:
    """What ``mlxlink`` printed for one port. BERs are floats (``1E-8`` → 1e-08); ``None``
    where absent or ``N/A``. ``raw_errors_per_lane`` is one count per lane."""

    state: str | None = None
    physical_state: str | None = None
    speed: str | None = None
    width: str | None = None
    fec: str | None = None
    recommendation: str | None = None
    time_since_clear_min: float | None = None
    symbol_errors: int | None = None
    symbol_ber: float | None = None
    effective_errors: int | None = None
    effective_ber: float | None = None
    raw_ber: float | None = None
    raw_errors_per_lane: tuple[int, ...] = ()
    link_down_counter: int | None = None
    link_error_recovery_counter: int | None = None


def _ber(value: str | None) -> float | None:
    m = _BER.match(value.strip()) if value else None
    return float(f"{m['coef']}e{m['exp']}") if m else None


def _int(value: str | None) -> int | None:
    return int(value) if value and re.fullmatch(r"\d{1,30}", value.strip()) else None


def _float(value: str | None) -> float | None:
    return (
        float(value) if value and re.fullmatch(r"\d{1,30}(?:\.\d{1,30})?", value.strip()) else None
    )


def _lanes(value: Any) -> tuple[int, ...]:
    if isinstance(value, dict):
        value = value.get("values", [])
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return ()
    counts = [_int(str(v)) for v in value]
    return tuple(c for c in counts if c is not None) if None not in counts else ()


def _fields_from_text(text: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for raw in text.splitlines():
        m = _KEY_VALUE.match(_ANSI.sub("", raw))
        if m:
            fields.setdefault(m["key"], m["value"])
    return fields


def _fields_from_json(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    result = data.get("result") if isinstance(data, dict) else None
    output = result.get("output") if isinstance(result, dict) else None
    if not isinstance(output, dict):
        return None
    fields: dict[str, Any] = {}
    for section in output.values():
        if isinstance(section, dict):
            for key, value in section.items():
                fields.setdefault(key, value)
    return fields


def parse_mlxlink(text: str) -> MlxlinkInfo:
    """The port's state and counters; an empty ``MlxlinkInfo`` when nothing is recognised."""
    fields = (_fields_from_json(text) if text.lstrip().startswith("{") else None) or (
        _fields_from_text(text)
    )

    def get(key: str) -> str | None:
        value = fields.get(key)
        if not isinstance(value, str) or value.strip() in ("", "N/A"):
            return None
        return value.strip()

    return MlxlinkInfo(
        state=get("State"),
        physical_state=get("Physical state"),
        speed=get("Speed"),
        width=get("Width"),
        fec=get("FEC"),
        recommendation=get("Recommendation"),
        time_since_clear_min=_float(get("Time Since Last Clear [Min]")),
        symbol_errors=_int(get("Symbol Errors")),
        symbol_ber=_ber(get("Symbol BER")),
        effective_errors=_int(get("Effective Physical Errors")),
        effective_ber=_ber(get("Effective Physical BER")),
        raw_ber=_ber(get("Raw Physical BER")),
        raw_errors_per_lane=_lanes(fields.get("Raw Physical Errors Per Lane")),
        link_down_counter=_int(get("Link Down Counter")),
        link_error_recovery_counter=_int(get("Link Error Recovery Counter")),
    )
