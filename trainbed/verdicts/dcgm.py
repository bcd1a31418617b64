"""Did DCGM's diagnostic pass on every GPU? (`dcgmi diag -r LEVEL`, parsed by
`trainbed.parse.dcgmi`.)

Each test's result per GPU with DCGM's own message: Fail fails, Warn warns, Pass and Skip are
fine (DCGM skips what the level or the GPU does not run). A node-wide deployment test that
fails (CUDA library, permissions, persistence) fails for the node. A diagnostic that hung or
timed out is no verdict at all: the caller reports it as "could not run".
"""

from __future__ import annotations

from collections.abc import Sequence

from trainbed.parse.dcgmi import DcgmiResult, per_gpu_results
from trainbed.verdicts import Findings, gpu_name, mismatch


def _message(text: str | None) -> str:
    return f" ({text})" if text else ""


def ran(rows: Sequence[DcgmiResult]) -> bool:
    """Whether the output holds a results table with at least one test: without one (dcgmi
    printed an error, the host engine did not answer) the diagnostic did not run."""
    return any(r.status is not None for r in rows)


def problems(node: str, level: int, rows: Sequence[DcgmiResult]) -> Findings:
    """`gpu01 GPU 3 dcgmi diag -r 2 GPU Memory: expected Pass, got Fail (GPU 3 …DCGM's text…)`.

    Only rows with a result are judged; see `ran` for output without any.
    """
    what = f"dcgmi diag -r {level}"
    tests = [r for r in rows if r.status is not None]
    failures: list[str] = []
    warnings: list[str] = []
    for row in tests:
        if row.scope is None and row.status in ("Fail", "Warn"):
            line = mismatch(
                f"{node} {what} {row.name}",
                "Pass",
                row.status + _message(" | ".join(row.warnings) or None),
            )
            (failures if row.status == "Fail" else warnings).append(line)
    for result in per_gpu_results(list(rows)):
        if result.status not in ("Fail", "Warn"):
            continue
        line = mismatch(
            f"{node} {gpu_name(result.gpu)} {what} {result.test}",
            "Pass",
            result.status + _message(result.message),
        )
        (failures if result.status == "Fail" else warnings).append(line)
    return Findings(tuple(failures), tuple(warnings))
