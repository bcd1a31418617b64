"""Parse NeMo pre-training logs (NeMo Framework 23.x/24.x, Megatron-based) for per-step times.

Contract: `parse_nemo_log(text)` returns a `NemoLog` and never raises. One `Step` per global step that
the log names, in step order, with the step's `train_step_timing` in seconds when the log gives one.

Two record formats are read:

- NeMo 1.x (23.x, 24.0x) through PyTorch Lightning's progress bar:
  `Epoch 0: : 10%|█| 50/500 [02:03<18:30, reduced_train_loss=2.5, global_step=49.0,
  consumed_samples=7200.0, train_step_timing in s=2.45]`
- NeMo 2.0 (24.09+) progress printer:
  `Training epoch 0, iteration 120/149 | ... | global_step: 120 | reduced_train_loss: 1.233 |
  train_step_timing in s: 0.03146 | ...`

A progress bar is redrawn with `\\r` many times per step, and captured logs often lose the `\\r`, so
several redraws end up glued on one line, some cut off mid-number. Records are therefore found by
their start (`Epoch N:` / `Training epoch N,`) anywhere in the text rather than one per line; redraws
of the same global step collapse into one step. A value directly followed by more text that is not a
separator (`in s=4.58Epoch 0: ...`) is a cut-off redraw: it is used only when no complete value for
that step exists. The tqdm counter (`50/500`) is not the step: `global_step` is.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan(?:\.0)?"
# Where a record starts: Lightning's bar ("Epoch 0: ", "Epoch 0: : ") or NeMo 2.0's printer.
_RECORD_START = re.compile(r"Epoch \d+:|Training epoch \d+, iteration")
# key=value (Lightning) or key: value (NeMo 2.0); `end` is the character after the value, if any.
_FIELD = re.compile(
    r"(?P<key>global_step|train_step_timing in s|reduced_train_loss|consumed_samples)"
    rf"(?:=|: )(?P<value>{_NUMBER})(?P<end>.)?",
    re.DOTALL,
)
_SEPARATORS = ",]| \n\r"


@dataclass(frozen=True, slots=True)
class Step:
    """One training step as the log reports it."""

    global_step: int
    step_time_s: float | None  # NeMo's train_step_timing, None when the log gives none
    loss: float | None  # reduced_train_loss (NaN when the log says nan)
    consumed_samples: float | None
    truncated: bool = False  # the time came from a cut-off redraw only

    def as_dict(self) -> dict[str, Any]:
        return {
            "global_step": self.global_step,
            "step_time_s": self.step_time_s,
            "loss": None if self.loss is None or math.isnan(self.loss) else self.loss,
            "loss_is_nan": self.loss is not None and math.isnan(self.loss),
            "consumed_samples": self.consumed_samples,
            "truncated": self.truncated,
        }


@dataclass(frozen=True, slots=True)
class NemoLog:
    """Every step found, in global-step order, and what was odd about the log."""

    steps: tuple[Step, ...]
    records: int  # progress records read (redraws included)
    warnings: tuple[str, ...] = field(default=())

    @property
    def step_times(self) -> tuple[float, ...]:
        """Times of the steps that have one, in step order."""
        return tuple(s.step_time_s for s in self.steps if s.step_time_s is not None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "steps": [s.as_dict() for s in self.steps],
            "records": self.records,
            "warnings": list(self.warnings),
        }


@dataclass(slots=True)
class _Acc:
    """What the records of one global step said so far."""

    time: float | None = None
    time_complete: bool = False
    loss: float | None = None
    samples: float | None = None


def parse_nemo_log(text: str) -> NemoLog:
    """Per-step times, losses and sample counts from a NeMo training log. Never raises."""
    try:
        return _parse(text)
    except Exception as exc:  # a parser bug must not take the caller down; say so instead
        return NemoLog(steps=(), records=0, warnings=(f"parser error: {exc!r}",))


def _parse(text: str) -> NemoLog:
    starts = [m.start() for m in _RECORD_START.finditer(text)]
    by_step: dict[int, _Acc] = {}
    records = 0
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(text)
        fields = _fields(text[start:end])
        step = fields.get("global_step")
        if step is None or not step[1] or math.isnan(step[0]) or not step[0].is_integer():
            continue  # no complete global_step: nothing to attach the values to
        records += 1
        acc = by_step.setdefault(int(step[0]), _Acc())
        _merge(acc, fields)
    steps = tuple(
        Step(
            global_step=number,
            step_time_s=acc.time,
            loss=acc.loss,
            consumed_samples=acc.samples,
            truncated=acc.time is not None and not acc.time_complete,
        )
        for number, acc in sorted(by_step.items())
    )
    return NemoLog(steps=steps, records=records, warnings=tuple(_warnings(steps, starts)))


def _fields(record: str) -> dict[str, tuple[float, bool]]:
    """The first value of each known key in one record: (value, complete)."""
    found: dict[str, tuple[float, bool]] = {}
    for match in _FIELD.finditer(record):
        key = match.group("key")
        if key in found:
            continue
        raw = match.group("value")
        value = math.nan if raw.startswith("nan") else float(raw)  # Lightning prints NaN as nan.0
        complete = match.group("end") is None or match.group("end") in _SEPARATORS
        found[key] = (value, complete)
    return found


def _merge(acc: _Acc, fields: dict[str, tuple[float, bool]]) -> None:
    # Later redraws of a step carry the final values; a complete value beats a cut-off one.
    timing = fields.get("train_step_timing in s")
    if timing is not None and not math.isnan(timing[0]) and (timing[1] or not acc.time_complete):
        acc.time, acc.time_complete = timing[0], timing[1]
    loss = fields.get("reduced_train_loss")
    if loss is not None and loss[1]:
        acc.loss = loss[0]
    samples = fields.get("consumed_samples")
    if samples is not None and samples[1]:
        acc.samples = samples[0]


def _warnings(steps: tuple[Step, ...], starts: list[int]) -> list[str]:
    if not starts:
        return ["no NeMo progress records (Epoch N: ... / Training epoch N, iteration ...) found"]
    if not steps:
        return ["progress records found, but none with a global_step value"]
    out = []
    untimed = [s.global_step for s in steps if s.step_time_s is None]
    if untimed:
        out.append(
            f"{len(untimed)} step(s) without train_step_timing (first: {untimed[0]}): "
            "older NeMo versions print only the progress bar's s/it"
        )
    cut = [s.global_step for s in steps if s.truncated]
    if cut:
        out.append(f"time read from a cut-off progress redraw for step(s) {_ranges(cut)}")
    nan = [s.global_step for s in steps if s.loss is not None and math.isnan(s.loss)]
    if nan:
        out.append(f"loss is NaN at step(s) {_ranges(nan)}")
    numbers = [s.global_step for s in steps]
    gaps = numbers[-1] - numbers[0] + 1 - len(numbers)
    if gaps:
        out.append(f"{gaps} step(s) between {numbers[0]} and {numbers[-1]} not in the log")
    return out


def _ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7"."""
    parts: list[str] = []
    first = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(first) if first == prev else f"{first}-{prev}")
        if n is not None:
            first = prev = n
    return ", ".join(parts)
