"""Quick-mode rounds (trainbed.probes.matching): the guarantees of its module doc, N = 2..1,024."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainbed.probes.judge import IbVerdict
from trainbed.probes.localise import AMBIGUOUS, HCA, LINK, NODE, Finding
from trainbed.probes.matching import (
    MAX_ROUNDS,
    Pair,
    first_round,
    localise_rounds,
    next_round,
    run_rounds,
)

THRESHOLD = 360.0


@dataclass(frozen=True)
class Fault:
    """``hca`` (node, rail) — an HCA or its cable to the leaf; ``node``; ``link`` (node, peer, rail)."""

    kind: str
    node: str
    rail: str | None = None
    peer: str | None = None

    def hits(self, a: str, b: str, rail: str) -> bool:
        if self.kind == "node":
            return self.node in (a, b)
        if self.kind == "hca":
            return self.node in (a, b) and rail == self.rail
        return {a, b} == {self.node, self.peer} and rail == self.rail


class Fabric:
    """A simulated cluster: every pair × rail of a round measured, failing where a fault hits."""

    def __init__(self, rails: Sequence[str], faults: Sequence[Fault]) -> None:
        self.rails, self.faults, self.rounds = list(rails), list(faults), 0
        self.met: set[frozenset[str]] = set()

    def measure(self, number: int, pairs: list[Pair]) -> list[IbVerdict]:
        self.rounds = max(self.rounds, number)
        self.met |= {frozenset(p) for p in pairs}
        return [
            verdict(number, a, b, rail, not any(f.hits(a, b, rail) for f in self.faults))
            for a, b in pairs
            for rail in self.rails
        ]


def verdict(number: int, a: str, b: str, rail: str, passed: bool) -> IbVerdict:
    gbps = 392.0 if passed else 371.0 * 0.9
    return IbVerdict(number, a, b, rail, f"hca-{rail}", f"hca-{rail}", gbps, THRESHOLD, passed)


def names(n: int) -> list[str]:
    return [f"gpu{i:04d}" for i in range(1, n + 1)]


def rails(count: int) -> list[str]:
    return [f"rail{r}" for r in range(count)]


def run(n: int, rail_count: int, faults: Sequence[Fault]) -> tuple[list[Finding], Fabric]:
    fabric = Fabric(rails(rail_count), faults)
    verdicts = run_rounds(names(n), fabric.rails, fabric.measure)
    return localise_rounds(verdicts), fabric


def key(f: Finding) -> tuple[str, frozenset[str], str | None]:
    ends = frozenset(n for n in (f.node, f.peer) if n is not None)
    return (f.kind, ends, f.rail)


def fault_key(f: Fault) -> tuple[str, frozenset[str], str | None]:
    if f.kind == "link":
        assert f.peer is not None
        return (LINK, frozenset((f.node, f.peer)), f.rail)
    return (HCA if f.kind == "hca" else NODE, frozenset((f.node,)), f.rail)


def measured_pair(n: int, rail_count: int, index: int) -> Pair:
    """A pair quick mode measures with no fault: round 1's, or the odd node out's in round 2."""
    pairs = first_round(names(n))
    if n % 2:
        clean = Fabric(rails(rail_count), []).measure(1, pairs)
        pairs = [*pairs, *next_round(names(n), clean, rails(rail_count))]
    return pairs[index % len(pairs)]


def single_fault(n: int, rail_count: int, kind: str, index: int, rail: int) -> Fault:
    nodes = names(n)
    rail_name = f"rail{rail % rail_count}"
    if kind == "link":
        a, b = measured_pair(n, rail_count, index)
        return Fault("link", a, rail_name, b)
    node = nodes[index % n]
    return Fault(kind, node, None if kind == "node" else rail_name)


KINDS = ("hca", "node", "link")


@st.composite
def one_fault(draw: st.DrawFn) -> tuple[int, int, Fault]:
    n = draw(st.integers(3, 1024))
    rail_count = draw(st.sampled_from((1, 2, 8)))
    kind = draw(st.sampled_from(KINDS))
    if kind == "node" and rail_count == 1:
        kind = "hca"
    fault = single_fault(n, rail_count, kind, draw(st.integers(0, 10**6)), draw(st.integers(0, 7)))
    return n, rail_count, fault


def check_single(n: int, rail_count: int, fault: Fault) -> None:
    findings, fabric = run(n, rail_count, [fault])
    assert [key(f) for f in findings] == [fault_key(fault)], (fault, findings)
    assert fabric.rounds <= MAX_ROUNDS
    if n % 2 == 0:
        assert fabric.rounds <= 2
    assert findings[0].evidence


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
@given(one_fault())
def test_one_fault_is_named_exactly_in_three_rounds(case: tuple[int, int, Fault]) -> None:
    check_single(*case)


@pytest.mark.parametrize("n", [*range(3, 17), 31, 32, 33, 127, 128, 1023, 1024])
@pytest.mark.parametrize("kind", KINDS)
def test_one_fault_every_kind_small_and_boundary_sizes(n: int, kind: str) -> None:
    """Every node (every round-1 pair for links) of the small sizes; first, middle, last above."""
    positions = range(n) if n <= 16 else (0, n // 2 - 1, n // 2, n - 1)
    for index in positions:
        check_single(n, 2, single_fault(n, 2, kind, index, index))


def test_no_fault_is_one_round_and_no_finding() -> None:
    for n in (2, 3, 4, 1023, 1024):
        findings, fabric = run(n, 8, [])
        # Odd N: the node out of round 1 needs round 2.
        assert (findings, fabric.rounds) == ([], 1 if n % 2 == 0 else 2)


def test_two_nodes_cannot_place_the_fault() -> None:
    findings, fabric = run(2, 2, [Fault("hca", "gpu0001", "rail1")])
    assert [(f.kind, f.rail, set(f.nodes)) for f in findings] == [
        (AMBIGUOUS, "rail1", {"gpu0001", "gpu0002"})
    ]
    assert fabric.rounds == 1


def true_fault(f: Finding, faults: Sequence[Fault], rail_count: int) -> bool:
    """Whether ``f`` names something faulty (a node whose every rail is faulty counts as a node)."""
    k = key(f)
    if k in {fault_key(x) for x in faults}:
        return True
    if f.kind == HCA:
        return any(x.kind == "node" and x.node == f.node for x in faults)
    if f.kind == NODE:
        bad = {x.rail for x in faults if x.kind == "hca" and x.node == f.node}
        return len(bad) == rail_count
    return False


def accounted(x: Fault, findings: Sequence[Finding], fabric: Fabric) -> bool:
    """Named, inside an ambiguous finding, masked by an HCA/node fault at one of its ends, or a
    path never measured (the other fault changed the partners); a node fault rail by rail
    unless it is named as the node."""
    faults, rail_count = fabric.faults, len(fabric.rails)
    if x.kind == "link" and frozenset((x.node, x.peer)) not in fabric.met:
        return True
    if x.kind == "node" and not any(f.kind == NODE and f.node == x.node for f in findings):
        return all(accounted(Fault("hca", x.node, r), findings, fabric) for r in rails(rail_count))
    for f in findings:
        if key(f) == fault_key(x) or (f.kind == NODE and f.node == x.node):
            return True
        if f.kind == AMBIGUOUS and x.node in f.nodes and f.rail in (x.rail, None):
            return True
        # Two paths of one node to the partners it was given read as its HCA (module doc).
        ends = (x.node, x.peer)
        if (
            x.kind == "link"
            and f.kind in (HCA, NODE)
            and f.node in ends
            and f.rail in (x.rail, None)
        ):
            return True
    if x.kind == "hca":
        return any(y.kind == "node" and y.node == x.node for y in faults)
    if x.kind == "link":
        ends = {x.node, x.peer}
        return any(
            y.node in ends and (y.kind == "node" or (y.kind == "hca" and y.rail == x.rail))
            for y in faults
        )
    return False


@st.composite
def two_faults(draw: st.DrawFn) -> tuple[int, int, list[Fault]]:
    n = draw(st.integers(3, 1024))
    rail_count = draw(st.sampled_from((2, 8)))
    faults: list[Fault] = []
    while len(faults) < 2:
        kind = draw(st.sampled_from(KINDS))
        index, rail = draw(st.integers(0, 10**6)), draw(st.integers(0, 7))
        fault = single_fault(n, rail_count, kind, index, rail)
        if fault not in faults:
            faults.append(fault)
    return n, rail_count, faults


def two_links_at_one_node(faults: Sequence[Fault]) -> bool:
    links = [f for f in faults if f.kind == "link"]
    return len(links) == 2 and bool({links[0].node, links[0].peer} & {links[1].node, links[1].peer})


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
@given(two_faults())
def test_two_faults_nothing_healthy_named_nothing_lost(case: tuple[int, int, list[Fault]]) -> None:
    n, rail_count, faults = case
    findings, fabric = run(n, rail_count, faults)
    assert fabric.rounds <= MAX_ROUNDS
    if not two_links_at_one_node(faults):
        wrong = [
            f for f in findings if f.kind != AMBIGUOUS and not true_fault(f, faults, rail_count)
        ]
        assert not wrong, (faults, findings)
    assert all(accounted(x, findings, fabric) for x in faults), (faults, findings)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
@given(st.integers(6, 1024) | st.just(4), st.integers(0, 10**6), st.integers(1, 10**6), st.data())
def test_two_hca_or_node_faults_on_different_nodes_both_named(
    n: int, first: int, offset: int, data: st.DataObject
) -> None:
    nodes = names(n)
    a, b = nodes[first % n], nodes[(first + offset % (n - 1) + 1) % n]
    kinds = data.draw(st.tuples(st.sampled_from(("hca", "node")), st.sampled_from(("hca", "node"))))
    rails_of = data.draw(st.tuples(st.integers(0, 7), st.integers(0, 7)))
    faults = [
        Fault(kind, node, None if kind == "node" else f"rail{r}")
        for kind, node, r in zip(kinds, (a, b), rails_of, strict=True)
    ]
    findings, fabric = run(n, 8, faults)
    assert sorted(map(key, findings), key=str) == sorted(map(fault_key, faults), key=str)
    assert fabric.rounds <= MAX_ROUNDS


def test_round_one_is_a_perfect_matching_within_leaves():
    for n in (2, 3, 64, 65, 100, 1024):
        nodes = names(n)
        leaf_of = {node: f"leaf{i // 32}" for i, node in enumerate(nodes)}
        pairs = first_round(list(reversed(nodes)), leaf_of)
        seen = [x for p in pairs for x in p]
        assert len(seen) == len(set(seen)) == n - n % 2
        across = [p for p in pairs if leaf_of[p[0]] != leaf_of[p[1]]]
        odd_leaves = sum(
            1 for leaf in set(leaf_of.values()) if list(leaf_of.values()).count(leaf) % 2
        )
        assert len(across) == odd_leaves // 2


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(one_fault(), st.sampled_from((8, 32)))
def test_one_fault_is_named_with_leaves(case: tuple[int, int, Fault], width: int) -> None:
    n, rail_count, fault = case
    leaf_of = {node: f"leaf{i // width}" for i, node in enumerate(names(n))}
    if fault.kind == "link":  # a pair quick mode measures with these leaves
        a, b = first_round(names(n), leaf_of)[int(fault.node[3:]) % (n // 2)]
        fault = Fault("link", a, fault.rail, b)
    fabric = Fabric(rails(rail_count), [fault])
    findings = localise_rounds(run_rounds(names(n), fabric.rails, fabric.measure, leaf_of))
    assert [key(f) for f in findings] == [fault_key(fault)], (fault, findings)
    assert fabric.rounds <= MAX_ROUNDS


def test_five_nodes_two_faults_stated_limit() -> None:
    """N = 5: two bad HCAs, one the node out of round 1, leave it ambiguous (the stated limit)."""
    findings, _ = run(5, 2, [Fault("hca", "gpu0001", "rail0"), Fault("hca", "gpu0005", "rail0")])
    assert [key(f) for f in findings] == [
        (HCA, frozenset({"gpu0001"}), "rail0"),
        (AMBIGUOUS, frozenset({"gpu0004", "gpu0005"}), "rail0"),
    ]


def test_rail_wide_failure_is_the_rail_after_round_one() -> None:
    findings, fabric = run(64, 2, [Fault("hca", n, "rail1") for n in names(64)])
    assert [(f.kind, f.rail, len(f.nodes)) for f in findings] == [(AMBIGUOUS, "rail1", 64)]
    assert fabric.rounds == 1


def test_excluded_nodes_get_no_partner() -> None:
    nodes = names(6)
    fabric = Fabric(rails(2), [Fault("hca", "gpu0001", "rail1")])
    r1 = fabric.measure(1, first_round(nodes))
    pairs = next_round(nodes, r1, fabric.rails, excluded=["gpu0004"])  # gpu0001's partner
    assert all("gpu0004" not in p for p in pairs)
    assert any("gpu0001" in p for p in pairs)


def test_repeated_node_is_refused() -> None:
    with pytest.raises(ValueError, match="more than once"):
        first_round(["a", "b", "a"])
