"""Rails without a master subnet manager, from the run's own ibstat facts and perftest's message.

An InfiniBand port whose link is up stays ``Initializing`` (no LID) until a subnet manager of its
fabric brings it to ``Active``. When every port the run saw on a rail is Initializing, both ends
of every failing ib_write_bw pair included, no master SM answers on that rail: one finding for the
rail, with both ends' port states and perftest's own words (``Port number 1 state is Init``),
instead of HCAs, links or "ambiguous" pairs. A rail where some port is Active has a working SM;
its Initializing ports are left to the pair matrix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from trainbed.probes.facts import PortFact
from trainbed.probes.judge import IbVerdict
from trainbed.probes.localise import SUBNET_MANAGER, Finding

INITIALIZING = "Initializing"


def _perftest_message(failing: Sequence[IbVerdict]) -> str | None:
    """perftest's port-state line from the failing verdicts' reasons, when it printed one."""
    for v in failing:
        for part in (v.reason or "").removeprefix("ib_write_bw failed: ").split("; "):
            if part.strip().startswith("Port number"):
                return part.strip()
    return None


def sm_less_rails(
    verdicts: Sequence[IbVerdict], ports: Mapping[tuple[str, str], PortFact]
) -> list[Finding]:
    """One finding per rail whose every reported port is Initializing and whose pairs fail."""
    findings: list[Finding] = []
    rails = list(dict.fromkeys(v.rail for v in verdicts))
    for rail in rails:
        on_rail = [v for v in verdicts if v.rail == rail]
        failing = [v for v in on_rail if not v.passed]
        nodes = list(dict.fromkeys(n for v in on_rail for n in v.pair))
        seen = [ports[(n, rail)] for n in nodes if (n, rail) in ports]
        if not failing or len(seen) < 2:
            continue
        if any(p.state != INITIALIZING for p in seen):
            continue
        if any((n, rail) not in ports for v in failing for n in v.pair):
            continue  # an end without facts: the evidence is not complete
        evidence = (
            f"no master subnet manager answering on {rail}: ibstat (read by the run's jobs) "
            f"shows {' and '.join(p.describe() for p in seen)}"
        )
        message = _perftest_message(failing)
        pairs = f"{len(failing)} of {len(on_rail)} ib_write_bw pair(s) on {rail} fail"
        evidence += f"; {pairs}" + (f", perftest: '{message}'" if message else "")
        findings.append(
            Finding(SUBNET_MANAGER, None, None, rail, None, evidence, nodes=tuple(nodes))
        )
    return findings
