"""Quick-mode ib_write_bw: at most three rounds of disjoint pairs, and where the fault is. Pure.

The full suite (:func:`trainbed.probes.schedule.pair_rounds`) measures every pair: N−1 rounds.
Quick mode measures a perfect matching and then only what the failures need:

- **Round 1** (:func:`first_round`): a perfect matching of the nodes, every pair on every rail,
  within leaves: node i of a leaf meets node i + ⌊n/2⌋ of the same leaf; a leaf's odd one out
  meets the next such across leaves. Within a leaf no stream crosses a spine: under the fat
  tree's D-mod-K routing a bad leaf–spine cable fails every cross-leaf stream into one node,
  which reads exactly like that node's HCA; the spine layer is the topology rounds' to test
  (:mod:`trainbed.probes.topology`), with nodes known good from these. For odd N one node sits
  round 1 out (a node in two streams at once would halve both and fail both): it meets a node
  that passed in round 2.
- **Round 2 and 3** (:func:`next_round`): every node a failure leaves unresolved, and every node
  not measured yet, meets a new partner known good on the rails in question (one that passed
  there), on its own leaf if it can, each partner distinct; when too few are known good,
  unresolved nodes meet each other.
  Nothing unresolved: no further round. Quick mode stops after :data:`MAX_ROUNDS`.

The rules, rail by rail (a slow HCA is slow with every partner, so one pass clears it):

- **good** (x, r): x passed with some partner on r.
- **bad** (x, r), an HCA or its cable to the leaf: x never passed on r and failed with at least
  two distinct partners that are good on r. On every rail measured (two at least): the **node**.
- **link** (x, y, r): x–y failed on r while both are good on r: the path between them.
- **rail**: no pass at all on r, and no two nodes touch every failing pair: the rail's switch or
  subnet manager (the HCAs would take three faults or more). Not re-paired.
- A failure none of these explains leaves its ends that are neither good nor bad **unresolved**;
  after the last round it is reported ``ambiguous`` between them.

Guarantees (``tests/unit/test_matching.py`` checks them for N = 2..1,024):

- **One fault** (an HCA or host cable on one rail, a whole node, or the path of a pair quick mode
  measures), N ≥ 3: exactly that fault is named, in at most 3 rounds (2 when N is even or the
  fault is not on the odd node out). N = 2: the one pair cannot be placed; ``ambiguous``.
- **Two faults**, N ≥ 3, at most 3 rounds: nothing healthy is named, except when both faults
  are paths of one node x to the very partners it was given (then x's HCA is named: the
  measurements are the same). Two HCA or node faults on different nodes are both named when
  N = 4 or N ≥ 6 (at N = 5 two pairs a round leave no room to clear the node out of round 1). Any fault not named is inside an ``ambiguous`` finding or masked by a named one (a
  path at a bad HCA shows only when the HCA is fixed).

A path quick mode never measures (x–y where x and y were never paired) is the full suite's or
the topology rounds' to find.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence

from trainbed.probes.judge import IbVerdict, NcclVerdict, failing_bar
from trainbed.probes.localise import (
    AMBIGUOUS,
    HCA,
    LINK,
    NODE,
    Finding,
    explained,
    localise_nccl,
)

Pair = tuple[str, str]
MAX_ROUNDS = 3


def first_round(nodes: Sequence[str], leaf_of: Mapping[str, str] | None = None) -> list[Pair]:
    """Round 1: within each leaf, node i meets node i + ⌊n/2⌋; each leaf's odd one out meets the
    next leaf's, across leaves (an odd one left over sits out until round 2).

    ``leaf_of`` maps a node to its leaf key (its leaf switches); without it all nodes are one
    group. Raises ``ValueError`` if a node name repeats.
    """
    if len(set(nodes)) != len(nodes):
        raise ValueError("a node appears more than once")
    groups: dict[str, list[str]] = {}
    for node in nodes:
        groups.setdefault((leaf_of or {}).get(node, ""), []).append(node)
    pairs: list[Pair] = []
    spare: list[str] = []
    for group in groups.values():
        half = len(group) // 2
        pairs += [(group[i], group[i + half]) for i in range(half)]
        spare += group[2 * half :]
    return pairs + [(spare[i], spare[i + 1]) for i in range(0, len(spare) - 1, 2)]


class _Rail:
    """One rail's measurements and what they say about its HCAs."""

    def __init__(self, verdicts: Sequence[IbVerdict]) -> None:
        self.verdicts = list(verdicts)
        self.passes: dict[str, list[IbVerdict]] = defaultdict(list)
        self.fails: dict[str, list[IbVerdict]] = defaultdict(list)
        for v in verdicts:
            for node in v.pair:
                (self.passes if v.passed else self.fails)[node].append(v)
        self.failing = [v for v in verdicts if not v.passed]

    def good(self, node: str) -> bool:
        return bool(self.passes.get(node))

    def bad_partners(self, node: str) -> list[str]:
        """The good partners ``node`` failed with (empty when it ever passed)."""
        if self.good(node):
            return []
        return list(
            dict.fromkeys(
                _peer(v, node) for v in self.fails.get(node, ()) if self.good(_peer(v, node))
            )
        )

    def bad(self, node: str) -> bool:
        return len(self.bad_partners(node)) >= 2

    def wide(self) -> bool:
        """No pass on the rail, and no two nodes touch every failing pair: it would take three
        faults or more, so the rail (switch, subnet manager) is the simpler explanation."""
        if any(v.passed for v in self.verdicts) or not self.failing:
            return False
        return not _two_cover([v.pair for v in self.failing])

    def explained(self, v: IbVerdict) -> bool:
        a, b = v.pair
        return self.bad(a) or self.bad(b) or (self.good(a) and self.good(b))

    def unexplained(self) -> list[IbVerdict]:
        return [] if self.wide() else [v for v in self.failing if not self.explained(v)]

    def unresolved(self) -> set[str]:
        return {
            n for v in self.unexplained() for n in v.pair if not self.good(n) and not self.bad(n)
        }


def _two_cover(pairs: Sequence[Pair]) -> bool:
    """Whether at most two nodes touch every pair (one of them is an end of the first pair)."""
    for node in pairs[0]:
        rest = [set(p) for p in pairs if node not in p]
        if not rest or set.intersection(*rest):
            return True
    return False


def _peer(v: IbVerdict, node: str) -> str:
    return v.node_b if v.node_a == node else v.node_a


def _rails(verdicts: Iterable[IbVerdict]) -> dict[str, _Rail]:
    by_rail: dict[str, list[IbVerdict]] = defaultdict(list)
    for v in verdicts:
        by_rail[v.rail].append(v)
    return {rail: _Rail(vs) for rail, vs in by_rail.items()}


def next_round(
    nodes: Sequence[str],
    verdicts: Sequence[IbVerdict],
    rails: Sequence[str],
    excluded: Iterable[str] = (),
    leaf_of: Mapping[str, str] | None = None,
) -> list[Pair]:
    """The next quick-mode round after ``verdicts``: [] when nothing is left to resolve.

    Needs a partner: every node not ``excluded`` that has no measurement yet, and every node a
    failure leaves unresolved. Partners, best first: nodes with no failure and a pass on every
    rail; nodes good on the rails the node is unresolved on; other nodes that need a partner;
    within each, nodes on the same leaf (``leaf_of``) first. Never a partner it already met,
    never two pairs on one node.
    """
    out = set(excluded)
    active = [n for n in nodes if n not in out]
    by_rail = _rails(verdicts)
    measured = {n for v in verdicts for n in v.pair}
    need: dict[str, set[str]] = {n: set(rails) for n in active if n not in measured}
    for rail, state in by_rail.items():
        for node in state.unresolved():
            if node not in out:
                need.setdefault(node, set()).add(rail)
    if not need:
        return []
    met = {frozenset(v.pair) for v in verdicts}
    failed = {n for v in verdicts if not v.passed for n in v.pair}
    clean = [
        n
        for n in active
        if n not in need and n not in failed and all(by_rail[r].good(n) for r in by_rail)
    ]
    used: set[str] = set()
    pairs: list[Pair] = []
    for node in (n for n in active if n in need):
        if node in used:
            continue
        wanted = need[node]
        fair = (
            n
            for n in active
            if n not in need
            and n not in clean
            and all(by_rail[r].good(n) for r in wanted if r in by_rail)
        )
        peers = [n for n in active if n in need]
        home = (leaf_of or {}).get(node)
        ordered = [
            c
            for tier in (clean, list(fair), peers)
            for near in (True, False)
            for c in tier
            if ((leaf_of or {}).get(c) == home) is near
        ]
        for candidate in ordered:
            if candidate == node or candidate in used or frozenset((node, candidate)) in met:
                continue
            pairs.append((node, candidate))
            used |= {node, candidate}
            break
    return pairs


Measure = Callable[[int, list[Pair]], Sequence[IbVerdict]]


def run_rounds(
    nodes: Sequence[str],
    rails: Sequence[str],
    measure: Measure,
    leaf_of: Mapping[str, str] | None = None,
    excluded: Callable[[], Iterable[str]] = lambda: (),
) -> list[IbVerdict]:
    """Quick mode from round 1 to the last: ``measure(number, pairs)`` runs one round and gives
    its verdicts. ``excluded`` is asked before every round (nodes Slurm took out meanwhile).

    At most :data:`MAX_ROUNDS` rounds that measured something; a round that measured nothing
    (its job lost with a node that went down) is planned again, up to twice that many in all.
    """
    verdicts: list[IbVerdict] = []
    measured = 0
    for number in range(1, 2 * MAX_ROUNDS + 1):
        out = set(excluded())
        if verdicts:
            pairs = next_round(nodes, verdicts, rails, out, leaf_of)
        else:
            pairs = first_round([n for n in nodes if n not in out], leaf_of)
        if not pairs or measured == MAX_ROUNDS:
            break
        got = list(measure(number, pairs))
        measured += bool(got)
        verdicts += got
    return verdicts


def _gbps(v: IbVerdict) -> str:
    return v.figure()


def _hca(v: IbVerdict, node: str) -> str | None:
    return v.hca_a if v.node_a == node else v.hca_b


def _with(vs: Iterable[IbVerdict], node: str) -> str:
    return ", ".join(f"{_peer(v, node)} (round {v.round}: {_gbps(v)})" for v in vs)


def _hca_finding(state: _Rail, node: str, rail: str, clean_rails: int) -> Finding:
    fails = state.fails[node]
    others = "; ".join(
        f"{p} passes with {', '.join(sorted({_peer(v, p) for v in state.passes[p]}))}"
        for p in state.bad_partners(node)
    )
    also = f"; {node} passes on {clean_rails} other rail(s)" if clean_rails else ""
    evidence = (
        f"ib_write_bw on {rail}: {node} fails with {len(fails)} partner(s) {failing_bar(fails)}: "
        f"{_with(fails, node)}, and passes with none; {others}{also}"
    )
    return Finding(HCA, node, _hca(fails[0], node), rail, None, evidence, nodes=(node,))


def _node_finding(by_rail: Mapping[str, _Rail], node: str) -> Finding:
    parts = [f"{rail}: {_with(state.fails[node], node)}" for rail, state in by_rail.items()]
    evidence = (
        f"ib_write_bw fails on all {len(by_rail)} rails with partners that pass elsewhere, "
        f"and never passes: {'; '.join(parts)}"
    )
    return Finding(NODE, node, None, None, None, evidence, nodes=(node,))


def _link_finding(state: _Rail, v: IbVerdict) -> Finding:
    a, b = v.pair
    elsewhere = "; ".join(
        f"{n} passes with {', '.join(sorted({_peer(w, n) for w in state.passes[n]}))}"
        for n in (a, b)
    )
    evidence = (
        f"{a} {v.hca_a} ↔ {b} {v.hca_b} on {v.rail}: round {v.round}, {_gbps(v)} "
        f"{failing_bar([v])}; {elsewhere}: the cable, switch port or path between them"
    )
    return Finding(LINK, a, v.hca_a, v.rail, b, evidence, v.hca_b, (a, b))


def _rail_finding(state: _Rail, rail: str) -> Finding:
    nodes = tuple(dict.fromkeys(n for v in state.failing for n in v.pair))
    evidence = (
        f"ib_write_bw fails for all {len(state.failing)} pairs measured on {rail}, on disjoint "
        "pairs: the rail as a whole (its switch, subnet manager or cabling), not one HCA"
    )
    return Finding(AMBIGUOUS, None, None, rail, None, evidence, nodes=nodes)


def _ambiguous(state: _Rail, v: IbVerdict) -> Finding:
    a, b = v.pair
    open_ends = [n for n in v.pair if not state.good(n) and not state.bad(n)]
    evidence = (
        f"ib_write_bw {a}–{b} on {v.rail}: round {v.round}, {_gbps(v)} "
        f"{failing_bar([v])}; {' and '.join(open_ends)} passed with no partner on "
        f"{v.rail}: {'either HCA or the path' if len(open_ends) == 2 else f'{open_ends[0]} or the path'} "
        "may be at fault and no further round could tell"
    )
    return Finding(AMBIGUOUS, a, v.hca_a, v.rail, b, evidence, v.hca_b, (a, b))


def localise_rounds(verdicts: Sequence[IbVerdict]) -> list[Finding]:
    """Findings from quick-mode rounds (the module doc's rules), nodes before HCAs before links."""
    by_rail = _rails(verdicts)
    wide = [r for r, s in by_rail.items() if s.wide()]
    judged = {r: s for r, s in by_rail.items() if r not in wide}
    nodes = list(dict.fromkeys(n for v in verdicts for n in v.pair))
    bad = {(n, r) for r, s in judged.items() for n in nodes if s.bad(n)}
    whole = [n for n in nodes if len(judged) > 1 and all((n, r) in bad for r in judged)]
    findings = [_rail_finding(by_rail[r], r) for r in wide]
    findings += [_node_finding(judged, n) for n in whole]
    for rail, state in judged.items():
        for node in nodes:
            if (node, rail) in bad and node not in whole:
                clean = sum(1 for r, s in judged.items() if r != rail and not s.fails.get(node))
                findings.append(_hca_finding(state, node, rail, clean))
    for state in judged.values():
        for v in state.failing:
            a, b = v.pair
            if state.bad(a) or state.bad(b):
                continue
            if state.good(a) and state.good(b):
                findings.append(_link_finding(state, v))
            else:
                findings.append(_ambiguous(state, v))
    return findings


def localise_quick(
    ib: Sequence[IbVerdict],
    nccl: Sequence[NcclVerdict] = (),
    rail_findings: Sequence[Finding] = (),
    cabling: Sequence[Finding] = (),
) -> list[Finding]:
    """Every finding of a quick-mode suite: what :func:`~trainbed.probes.localise.explained`
    sets aside (rails with no subnet manager, miscabled ports: their pairs left out, so neither
    the port nor its partners are blamed as slow or dead), :func:`localise_rounds`, then the NCCL
    runs (:func:`~trainbed.probes.localise.localise_nccl`)."""
    outside, left = explained(ib, rail_findings, cabling)
    found = [*outside, *localise_rounds(left)]
    return [*found, *localise_nccl(nccl, found)]
