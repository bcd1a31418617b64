"""Is an InfiniBand port's link clean while the checks run? Its error counters, read twice
(`perfquery -x`, parsed by `trainbed.parse.perfquery`), judged on their growth.

The counters are cumulative since the port's last reset, so their values say little: a port
cleaned of an old cable fault still shows its errors. What the port does now is the growth
between two readings: symbol errors and link error recoveries (bit errors beyond what FEC
corrects, retraining) and link-downed increments (a flapping port) fail above their
thresholds; any other IBTA error counter that grows warns (receive errors and discards also
follow congestion and remote faults).
"""

from __future__ import annotations

from dataclasses import dataclass

from trainbed.parse.perfquery import ERROR_COUNTERS, PortCounters, counter_delta
from trainbed.verdicts import Findings, mismatch

#: Counters whose growth means this link's signal is bad.
SIGNAL_COUNTERS = ("SymbolErrorCounter", "LinkErrorRecoveryCounter")
#: Its increments are link flaps.
FLAP_COUNTER = "LinkDownedCounter"


@dataclass(frozen=True, slots=True)
class Limits:
    """Growth allowed between the two readings (the inventory's `health.thresholds`)."""

    symbol_error_growth: int = 0
    link_downed_growth: int = 0


def problems(
    node: str,
    device: str,
    before: PortCounters,
    after: PortCounters,
    seconds: float,
    limits: Limits = Limits(),
) -> Findings:
    """`gpu01 mlx5_3 port 1 SymbolErrorCounter: expected growth <= 0 in 42 s, got +120`; link
    flaps: `gpu01 mlx5_3 port 1 link flaps (LinkDownedCounter): expected <= 0 in 42 s, got +2`.

    A counter that went down between the readings (reset, or wrapped) is a warning: its growth
    cannot be told.
    """
    what = f"{node} {device} port {after.port if after.port is not None else 'ALL'}"
    span = f"in {seconds:.0f} s"
    delta = counter_delta(before, after)
    failures: list[str] = []
    warnings: list[str] = []
    for name in ERROR_COUNTERS:
        if name not in delta:
            continue
        grew = delta[name]
        if grew is None:
            warnings.append(mismatch(f"{what} {name}", "not reset during the checks", "went down"))
            continue
        if name in SIGNAL_COUNTERS:
            if grew > limits.symbol_error_growth:
                failures.append(
                    mismatch(
                        f"{what} {name}",
                        f"growth <= {limits.symbol_error_growth} {span}",
                        f"+{grew}",
                    )
                )
        elif name == FLAP_COUNTER:
            if grew > limits.link_downed_growth:
                failures.append(
                    mismatch(
                        f"{what} link flaps ({name})",
                        f"<= {limits.link_downed_growth} {span}",
                        f"+{grew}",
                    )
                )
        elif grew > 0:
            warnings.append(mismatch(f"{what} {name}", f"no growth {span}", f"+{grew}"))
    return Findings(tuple(failures), tuple(warnings))
