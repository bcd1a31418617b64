"""Name the node, HCA or link at fault from the pair × rail matrix of ib_write_bw verdicts.

How it decides, rail by rail, from the pairs of each node on that rail (one per other node):

- **HCA** (x, r): at least two, and more than half, of x's pairs on r fail. Nodes are picked
  greedily, most failures first, and a picked node's pairs no longer count against its partners:
  a bad HCA fails with every partner while each partner fails only with it, so the partners are
  never blamed, and two bad HCAs on one rail are both named. The strict majority tolerates a bad
  HCA that scrapes past the threshold with one partner.
- **node** x: x's HCA is blamed on every rail (two at least). Reported once, not per rail.
- **link** (x, y, r): a failing pair that neither end's HCA explains. For N ≥ 3 both ends then
  pass with some other partner on r, so the cable, switch port or path between them is at fault.
- **ambiguous**, in three cases. Every pair on a rail fails (N ≥ 3): the rail as a whole (switch,
  subnet manager), named once instead of N HCAs; every pair fails on every rail: something
  suite-wide. And N = 2, where the one pair cannot be placed by the matrix: the tie-breakers,
  strongest first, are outside evidence about one end's HCA on that rail (``Hint`` with a rail),
  then about one end as a whole (``Hint`` without a rail, or a failed single-node NCCL run). When
  exactly one end is suspected it is named and the evidence says it was a tie-break; otherwise the
  finding is ``ambiguous`` between the two ends.

Limits: several faults on one rail can look like one or like others (for N = 3, two bad links of
one node are indistinguishable from its bad HCA, which is the answer given; three failing pairs
of three nodes are "the rail"); a node failing on all rails but one is reported as HCAs, not as
the node. The matrix cannot tell an HCA from its cable or its switch port: "hca" means "this
node's port on this rail, from the HCA to the switch".

NCCL verdicts add findings too: a failed single-node run names its node (the judge's reasons say
why: GPU missing, NVLS off, fabric manager); a failed multi-node run that no other finding
touches is ``ambiguous`` across its nodes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from trainbed.probes.judge import IbVerdict, NcclVerdict, failing_bar

NODE, HCA, LINK, AMBIGUOUS = "node", "hca", "link", "ambiguous"
#: Not a fault the matrix found: a node Slurm could not run the suite on (see ``results``).
NOT_MEASURED = "not_measured"
#: Faults outside the compute nodes: a Slurm controller not answering (``node`` is the
#: controller host); a rail with no master subnet manager (``rail`` set, ``node`` None).
CONTROLLER, SUBNET_MANAGER = "controller", "subnet_manager"
#: A port on another rail's fabric than the inventory's (``trainbed.verdicts.cabling``).
CABLING = "cabling"
_KIND_ORDER = {
    CONTROLLER: 0,
    SUBNET_MANAGER: 1,
    CABLING: 2,
    NODE: 3,
    HCA: 4,
    LINK: 5,
    AMBIGUOUS: 6,
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One localised fault. ``nodes``: every node involved (the group, for an NCCL run)."""

    kind: str
    node: str | None
    hca: str | None
    rail: str | None
    peer: str | None
    evidence: str
    peer_hca: str | None = None
    nodes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["nodes"] = list(self.nodes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(**{**data, "nodes": tuple(data.get("nodes", ()))})


@dataclass(frozen=True, slots=True)
class Hint:
    """Evidence about a node (``rail`` None) or one of its HCAs from outside the pair matrix,
    e.g. ibstat showing a port down or trained at a lower rate. Used only to break N = 2 ties."""

    node: str
    rail: str | None
    text: str


def _gbps(verdict: IbVerdict) -> str:
    return verdict.figure()


def _hca_of(verdict: IbVerdict, node: str) -> str | None:
    return verdict.hca_a if verdict.node_a == node else verdict.hca_b


def _peer_of(verdict: IbVerdict, node: str) -> str:
    return verdict.node_b if verdict.node_a == node else verdict.node_a


def _worst(verdicts: Iterable[IbVerdict]) -> IbVerdict:
    return min(verdicts, key=lambda v: (v.gbps is not None, v.gbps or 0.0))


class _Matrix:
    """The pair × rail verdicts indexed by node and rail."""

    def __init__(self, verdicts: Sequence[IbVerdict]) -> None:
        self.nodes: list[str] = []
        self.rails: list[str] = []
        self.by_node_rail: dict[tuple[str, str], list[IbVerdict]] = defaultdict(list)
        self.failing: list[IbVerdict] = []
        self._bad_hcas: dict[str, tuple[str, ...]] = {}
        seen: set[tuple[frozenset[str], str]] = set()
        for v in verdicts:
            key = (frozenset(v.pair), v.rail)
            if key in seen:
                continue
            seen.add(key)
            for node in v.pair:
                if node not in self.nodes:
                    self.nodes.append(node)
                self.by_node_rail[(node, v.rail)].append(v)
            if v.rail not in self.rails:
                self.rails.append(v.rail)
            if not v.passed:
                self.failing.append(v)

    def failing_of(self, node: str, rail: str) -> list[IbVerdict]:
        return [v for v in self.by_node_rail[(node, rail)] if not v.passed]

    def rail_wide(self, rail: str) -> bool:
        """Every pair fails on ``rail`` (N ≥ 3): the rail, not N HCAs, is the likely cause."""
        cells = {id(v): v for n in self.nodes for v in self.by_node_rail[(n, rail)]}.values()
        pairs = len(self.nodes) * (len(self.nodes) - 1) // 2
        return len(self.nodes) >= 3 and len(cells) == pairs and not any(v.passed for v in cells)

    def bad_hcas(self, rail: str) -> tuple[str, ...]:
        """Nodes whose HCA on ``rail`` is blamed, picked greedily.

        A node qualifies when at least two, and more than half, of its pairs fail, counting only
        pairs with nodes not picked yet; the node with most such failures is picked first. This
        keeps one bad HCA from making its partners look bad, and separates two bad HCAs.
        """
        if rail in self._bad_hcas:
            return self._bad_hcas[rail]
        chosen: list[str] = []
        while True:
            best, best_fails = None, 0
            for node in self.nodes:
                if node in chosen:
                    continue
                cells = [
                    v
                    for v in self.by_node_rail[(node, rail)]
                    if not any(n in chosen for n in v.pair if n != node)
                ]
                fails = sum(not v.passed for v in cells)
                if fails >= 2 and 2 * fails > len(cells) and fails > best_fails:
                    best, best_fails = node, fails
            if best is None:
                self._bad_hcas[rail] = tuple(chosen)
                return self._bad_hcas[rail]
            chosen.append(best)

    def node_bad(self, node: str) -> bool:
        """The node's HCA is blamed on every rail that is not failing as a whole (two at least)."""
        rails = [r for r in self.rails if not self.rail_wide(r)]
        return len(rails) > 1 and all(node in self.bad_hcas(r) for r in rails)

    def device(self, node: str, rail: str) -> str | None:
        for v in self.by_node_rail[(node, rail)]:
            return _hca_of(v, node)
        return None


def _node_finding(m: _Matrix, node: str) -> Finding:
    failing = [v for r in m.rails for v in m.failing_of(node, r)]
    worst = _worst(failing)
    counts = {len(m.failing_of(node, r)) for r in m.rails}
    partners = len(m.by_node_rail[(node, m.rails[0])])
    fail_count = f"{min(counts)}" if len(counts) == 1 else f"{min(counts)}–{max(counts)}"
    evidence = (
        f"ib_write_bw fails on all {len(m.rails)} rails: {fail_count} of {partners} partners "
        f"per rail {failing_bar(failing)}; worst {_gbps(worst)} with "
        f"{_peer_of(worst, node)} on {worst.rail}"
    )
    return Finding(NODE, node, None, None, None, evidence, nodes=(node,))


def _hca_finding(m: _Matrix, node: str, rail: str) -> Finding:
    failing = m.failing_of(node, rail)
    tested = m.by_node_rail[(node, rail)]
    worst = _worst(failing)
    peers = ", ".join(sorted(_peer_of(v, node) for v in failing))
    clean = [r for r in m.rails if r != rail and not m.failing_of(node, r)]
    others = f"; passes on {len(clean)} other rail(s)" if clean else ""
    evidence = (
        f"ib_write_bw on {rail} fails with {len(failing)} of {len(tested)} partners ({peers}) "
        f"{failing_bar(failing)}; worst {_gbps(worst)} with {_peer_of(worst, node)}{others}"
    )
    return Finding(HCA, node, m.device(node, rail), rail, None, evidence, nodes=(node,))


def _rail_finding(m: _Matrix, rail: str) -> Finding:
    failing = [v for v in m.failing if v.rail == rail]
    evidence = (
        f"ib_write_bw fails for all {len(failing)} pairs on {rail} (worst {_gbps(_worst(failing))}): "
        f"the rail as a whole (its switch, subnet manager or cabling) rather than "
        f"{len(m.nodes)} separate HCAs"
    )
    return Finding(AMBIGUOUS, None, None, rail, None, evidence, nodes=tuple(m.nodes))


def _fabric_finding(m: _Matrix) -> Finding:
    evidence = (
        f"ib_write_bw fails for every pair on every rail ({len(m.failing)} measurements, worst "
        f"{_gbps(_worst(m.failing))}): a cause common to the whole suite (subnet managers, the "
        "perftest invocation, the thresholds) rather than any one node"
    )
    return Finding(AMBIGUOUS, None, None, None, None, evidence, nodes=tuple(m.nodes))


def _link_finding(v: IbVerdict) -> Finding:
    evidence = (
        f"{v.node_a} {v.hca_a} ↔ {v.node_b} {v.hca_b} on {v.rail}: {_gbps(v)} "
        f"{failing_bar([v])}, while both ends pass with other partners on {v.rail}"
    )
    return Finding(
        LINK, v.node_a, v.hca_a, v.rail, v.node_b, evidence, v.hca_b, (v.node_a, v.node_b)
    )


def _suspicions(
    node: str, rail: str | None, hints: Sequence[Hint], nccl: Sequence[NcclVerdict]
) -> list[str]:
    """Outside evidence against ``node`` (its HCA on ``rail`` when a rail is given)."""
    if rail is not None:
        return [h.text for h in hints if h.node == node and h.rail == rail]
    found = [h.text for h in hints if h.node == node and h.rail is None]
    for v in nccl:
        if v.kind == "single" and v.nodes == (node,) and not v.passed:
            found.append(f"single-node NCCL {v.name} failed ({'; '.join(v.reasons)})")
    return found


def _tie_break(
    a: str, b: str, rail: str | None, hints: Sequence[Hint], nccl: Sequence[NcclVerdict]
) -> tuple[str, list[str]] | None:
    """The one end the outside evidence points at, with that evidence; None when it does not."""
    levels = [rail, None] if rail is not None else [None]
    for level in levels:
        against = {node: _suspicions(node, level, hints, nccl) for node in (a, b)}
        suspects = [node for node in (a, b) if against[node]]
        if len(suspects) == 1:
            return suspects[0], against[suspects[0]]
    return None


def _two_node_findings(
    m: _Matrix, stuck: Sequence[IbVerdict], hints: Sequence[Hint], nccl: Sequence[NcclVerdict]
) -> list[Finding]:
    """Failures in ``stuck``: pairs whose ends the matrix cannot tell apart (N = 2)."""
    by_pair: dict[tuple[str, str], list[IbVerdict]] = defaultdict(list)
    for v in stuck:
        by_pair[v.pair].append(v)
    findings: list[Finding] = []
    for (a, b), failing in by_pair.items():
        all_rails = len(m.rails) > 1 and {v.rail for v in failing} == set(m.rails)
        groups = [failing] if all_rails else [[v] for v in failing]
        for group in groups:
            rail = None if all_rails else group[0].rail
            worst = _worst(group)
            what = f"all {len(m.rails)} rails" if all_rails else f"{rail}"
            measured = (
                f"ib_write_bw {a}–{b} fails on {what} (worst {_gbps(worst)} on {worst.rail}, "
                f"threshold {worst.threshold_gbps:g} Gb/s); {a}–{b} is the only pair"
            )
            blamed = _tie_break(a, b, rail, hints, nccl)
            if blamed is not None:
                node, why = blamed
                evidence = f"{measured}; tie-break: {'; '.join(why)}"
                if all_rails:
                    findings.append(Finding(NODE, node, None, None, None, evidence, nodes=(node,)))
                else:
                    hca = m.device(node, group[0].rail)
                    findings.append(Finding(HCA, node, hca, rail, None, evidence, nodes=(node,)))
                continue
            end = "either node" if all_rails else "either HCA or the link between them"
            findings.append(
                Finding(
                    AMBIGUOUS,
                    a,
                    None if all_rails else worst.hca_a,
                    rail,
                    b,
                    f"{measured}: {end} may be at fault and nothing else tells them apart",
                    None if all_rails else worst.hca_b,
                    (a, b),
                )
            )
    return findings


def localise_ib(
    verdicts: Sequence[IbVerdict],
    nccl: Sequence[NcclVerdict] = (),
    hints: Sequence[Hint] = (),
) -> list[Finding]:
    """Findings from the ib_write_bw matrix alone (``nccl`` and ``hints`` only break N = 2 ties)."""
    m = _Matrix(verdicts)
    if not m.failing:
        return []
    findings: list[Finding] = []
    wide = [r for r in m.rails if m.rail_wide(r)]
    if wide and wide == m.rails:
        return [_fabric_finding(m)]
    findings += [_rail_finding(m, r) for r in wide]
    bad_nodes = [n for n in m.nodes if m.node_bad(n)]
    findings += [_node_finding(m, n) for n in bad_nodes]
    bad_hcas = {
        (n, r) for r in m.rails if r not in wide for n in m.bad_hcas(r) if n not in bad_nodes
    }
    findings += [_hca_finding(m, n, r) for n in m.nodes for r in m.rails if (n, r) in bad_hcas]

    def explained(v: IbVerdict) -> bool:
        return v.rail in wide or any(n in bad_nodes or (n, v.rail) in bad_hcas for n in v.pair)

    def placeable(v: IbVerdict) -> bool:
        # Both ends pass with someone else on this rail: only the link between them is left.
        return all(any(w.passed for w in m.by_node_rail[(n, v.rail)] if w is not v) for n in v.pair)

    unexplained = [v for v in m.failing if not explained(v)]
    findings += [_link_finding(v) for v in unexplained if placeable(v)]
    stuck = [v for v in unexplained if not placeable(v)]
    findings += _two_node_findings(m, stuck, hints, nccl)
    return findings


def localise_nccl(verdicts: Sequence[NcclVerdict], others: Sequence[Finding]) -> list[Finding]:
    """Single-node failures name their node; other failures not touched by ``others`` are ambiguous."""
    findings: list[Finding] = []
    for v in verdicts:
        if v.passed:
            continue
        reasons = "; ".join(v.reasons)
        if v.kind == "single":
            evidence = f"single-node NCCL all_reduce {v.name} failed ({v.diagnosis}): {reasons}"
            findings.append(Finding(NODE, v.nodes[0], None, None, None, evidence, nodes=v.nodes))
            continue
        named = {n for f in [*others, *findings] if f.kind != AMBIGUOUS for n in f.nodes}
        if named & set(v.nodes):
            continue
        evidence = (
            f"NCCL all_reduce {v.name} over {', '.join(v.nodes)} failed ({v.diagnosis}): "
            f"{reasons}; no single-node run or ib_write_bw pair points at one of them"
        )
        findings.append(Finding(AMBIGUOUS, None, None, None, None, evidence, nodes=v.nodes))
    return findings


def _merge(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (kind, node, hca, rail, peer); evidence of duplicates joined."""
    merged: dict[tuple[Any, ...], Finding] = {}
    for f in findings:
        key: tuple[str | None, ...] = (f.kind, f.node, f.hca, f.rail, f.peer)
        if f.kind == NODE:
            key = (NODE, f.node)
        if key in merged:
            old = merged[key]
            merged[key] = Finding(
                old.kind,
                old.node,
                old.hca,
                old.rail,
                old.peer,
                f"{old.evidence}. Also: {f.evidence}",
                old.peer_hca,
                old.nodes,
            )
        else:
            merged[key] = f
    return sorted(merged.values(), key=lambda f: _KIND_ORDER[f.kind])


def explained(
    ib_verdicts: Sequence[IbVerdict],
    rail_findings: Sequence[Finding] = (),
    cabling: Sequence[Finding] = (),
) -> tuple[list[Finding], list[IbVerdict]]:
    """The findings that explain failures outside the matrix, and the verdicts left for it.

    ``rail_findings`` explain every failure on their rail (a rail with no subnet manager, see
    :mod:`trainbed.probes.subnet`): that rail's verdicts stay out. ``cabling`` findings (a port
    on another rail's fabric, :mod:`trainbed.verdicts.cabling`) explain every pair the port is
    an end of on its rail: those stay out too, so neither it nor its partners are blamed.
    """
    covered = {f.rail for f in rail_findings}
    cabled = [f for f in cabling if f.rail not in covered]
    ends = {(f.node, f.rail) for f in cabled}
    left = [
        v
        for v in ib_verdicts
        if v.rail not in covered and not any((n, v.rail) in ends for n in v.pair)
    ]
    return [*rail_findings, *cabled], left


def localise(
    ib_verdicts: Sequence[IbVerdict],
    nccl_verdicts: Sequence[NcclVerdict] = (),
    hints: Sequence[Hint] = (),
    rail_findings: Sequence[Finding] = (),
    cabling: Sequence[Finding] = (),
) -> list[Finding]:
    """Every finding of the suite: what :func:`explained` sets aside (a rail without subnet
    manager, a miscabled port), the ib_write_bw matrix, then NCCL runs (see the module doc)."""
    outside, left = explained(ib_verdicts, rail_findings, cabling)
    ib = localise_ib(left, nccl_verdicts, hints)
    # A node-level ib tie-break on a node whose single-node run failed is the same fault: merged.
    return _merge([*outside, *ib, *localise_nccl(nccl_verdicts, [*outside, *ib])])
