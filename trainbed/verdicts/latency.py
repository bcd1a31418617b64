"""Is the RDMA write latency between two HCAs under its bar? (`ib_write_lat`, parsed by
`trainbed.parse.perftest_lat`.)

The bar is on the 99th percentile of the smallest message (2 B, perftest's default), not on the
typical figure: a cable or port that retransmits shows in the tail first, while its typical
latency stays near the healthy ~1–2 µs. imbue's fabric acceptance bar is p99 ≤ 4.2 µs on NDR
(the inventory's ``probes.thresholds.ib_write_lat_p99_max_us``). The typical and 99.9 % figures
are reported with it. A run that failed is a failure with its reason, never a pass; a table
without percentiles (a perftest too old to print them) could not be judged: not a pass, and not
measured (``measured`` False), so it blames no HCA.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trainbed.verdicts import mismatch

#: imbue's bar for ib_write_lat p99 on NDR, in µs.
P99_MAX_US = 4.2


@dataclass(frozen=True, slots=True)
class Latency:
    """One pair's latency figures (µs) and what is wrong with them (``problem`` None: healthy;
    ``measured`` False: the output could not be judged, ``problem`` says why)."""

    typical_us: float | None
    p99_us: float | None
    p999_us: float | None
    p99_max_us: float
    problem: str | None
    measured: bool = True

    @property
    def passed(self) -> bool:
        return self.problem is None


def measured_run(
    runs: Sequence[Mapping[str, Any]], figure: str = "p99_us"
) -> Mapping[str, Any] | None:
    """The run of one side of a perftest pair that carries its figure (``figure``, a key of the
    parsed run): the client's, else any with the figure, else any (None: no run)."""
    for predicate in (
        lambda r: r.get("side") == "client",
        lambda r: r.get(figure) is not None,
        lambda r: True,
    ):
        for run in runs:
            if predicate(run):
                return run
    return None


def judge(what: str, runs: Sequence[Mapping[str, Any]], p99_max_us: float = P99_MAX_US) -> Latency:
    """``gpu01 mlx5_0 → gpu02 mlx5_0 ib_write_lat p99: expected <= 4.2 µs, got 9.81 µs`` (``what``
    names the pair); a failed run: ``… ib_write_lat: failed (Couldn't connect …)``."""
    run = measured_run(runs)
    if run is None:
        return Latency(None, None, None, p99_max_us, f"{what} ib_write_lat: no output")
    typical, p99, p999 = run.get("typical_us"), run.get("p99_us"), run.get("p999_us")
    if not run.get("ok"):
        errors = "; ".join(run.get("errors", ())) or "no result"
        return Latency(typical, p99, p999, p99_max_us, f"{what} ib_write_lat: failed ({errors})")
    if p99 is None:
        problem = (
            f"{what} ib_write_lat: could not run: no 99% percentile in the table (perftest < 4.x?)"
        )
        return Latency(typical, p99, p999, p99_max_us, problem, measured=False)
    if p99 > p99_max_us:
        problem = mismatch(f"{what} ib_write_lat p99", f"<= {p99_max_us:g} µs", f"{p99:g} µs")
        return Latency(typical, p99, p999, p99_max_us, problem)
    return Latency(typical, p99, p999, p99_max_us, None)
