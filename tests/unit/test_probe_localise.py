"""Localisation: node, HCA or link from the pair × rail matrix; NCCL failures to their node."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.probe_helpers import ib_verdict
from trainbed.probes.judge import IbVerdict, NcclVerdict
from trainbed.probes.localise import Finding, Hint, localise

GOOD, BAD = 395.0, 180.0

Fault = Callable[[str, str, str], bool]  # (node_a, node_b, rail) → the pair fails


def nodes(n: int) -> list[str]:
    return [f"gpu{i:02d}" for i in range(1, n + 1)]


def rails(r: int) -> list[str]:
    return [f"rail{i}" for i in range(r)]


def matrix(n: int, r: int, fails: Fault) -> list[IbVerdict]:
    return [
        ib_verdict(a, b, rail, BAD if fails(a, b, rail) else GOOD)
        for a, b in itertools.combinations(nodes(n), 2)
        for rail in rails(r)
    ]


def single(node: str, passed: bool, reason: str = "NVLS not in use") -> NcclVerdict:
    return NcclVerdict(
        f"single-{node}",
        (node,),
        "single",
        480.0 if passed else 365.0,
        440.0,
        passed,
        () if passed else (reason,),
        None if passed else "nvls_off",
    )


def key(f: Finding) -> tuple[str, str | None, str | None, str | None]:
    return (f.kind, f.node, f.rail, f.peer)


def test_clean_matrix_has_no_findings() -> None:
    assert localise(matrix(6, 8, lambda a, b, r: False)) == []


def test_hca_on_one_rail() -> None:
    findings = localise(matrix(6, 8, lambda a, b, r: "gpu03" in (a, b) and r == "rail2"))
    assert [key(f) for f in findings] == [("hca", "gpu03", "rail2", None)]
    (f,) = findings
    assert f.hca == "hca-rail2"
    assert "5 of 5 partners" in f.evidence and "passes on 7 other rail(s)" in f.evidence


def test_node_on_every_rail() -> None:
    findings = localise(matrix(5, 8, lambda a, b, r: "gpu05" in (a, b)))
    assert [key(f) for f in findings] == [("node", "gpu05", None, None)]
    assert "all 8 rails" in findings[0].evidence


def test_single_link() -> None:
    findings = localise(matrix(4, 8, lambda a, b, r: (a, b, r) == ("gpu01", "gpu04", "rail7")))
    assert [key(f) for f in findings] == [("link", "gpu01", "rail7", "gpu04")]
    assert findings[0].peer_hca == "hca-rail7"
    assert "both ends pass with other partners" in findings[0].evidence


def test_three_nodes() -> None:
    hca = localise(matrix(3, 4, lambda a, b, r: "gpu02" in (a, b) and r == "rail1"))
    assert [key(f) for f in hca] == [("hca", "gpu02", "rail1", None)]
    node = localise(matrix(3, 4, lambda a, b, r: "gpu01" in (a, b)))
    assert [key(f) for f in node] == [("node", "gpu01", None, None)]
    link = localise(matrix(3, 4, lambda a, b, r: {a, b} == {"gpu02", "gpu03"} and r == "rail0"))
    assert [key(f) for f in link] == [("link", "gpu02", "rail0", "gpu03")]


def test_a_bad_hca_that_scrapes_past_with_one_partner_is_still_the_hca() -> None:
    def fails(a: str, b: str, r: str) -> bool:
        return "gpu01" in (a, b) and r == "rail3" and "gpu06" not in (a, b)

    findings = localise(matrix(6, 8, fails))
    assert [key(f) for f in findings] == [("hca", "gpu01", "rail3", None)]
    assert "4 of 5 partners" in findings[0].evidence


def test_two_faults_on_different_rails() -> None:
    def fails(a: str, b: str, r: str) -> bool:
        return ("gpu02" in (a, b) and r == "rail0") or ((a, b, r) == ("gpu03", "gpu05", "rail4"))

    findings = localise(matrix(6, 8, fails))
    assert [key(f) for f in findings] == [
        ("hca", "gpu02", "rail0", None),
        ("link", "gpu03", "rail4", "gpu05"),
    ]


def test_two_bad_hcas_on_one_rail_are_both_named() -> None:
    findings = localise(
        matrix(5, 8, lambda a, b, r: r == "rail6" and bool({a, b} & {"gpu02", "gpu04"}))
    )
    assert [key(f) for f in findings] == [
        ("hca", "gpu02", "rail6", None),
        ("hca", "gpu04", "rail6", None),
    ]


def test_a_rail_failing_for_every_pair_is_the_rail() -> None:
    findings = localise(matrix(5, 8, lambda a, b, r: r == "rail3"))
    assert [key(f) for f in findings] == [("ambiguous", None, "rail3", None)]
    assert "all 10 pairs on rail3" in findings[0].evidence
    assert findings[0].nodes == tuple(nodes(5))


def test_everything_failing_is_one_suite_wide_finding() -> None:
    (f,) = localise(matrix(4, 8, lambda a, b, r: True))
    assert (f.kind, f.node, f.rail) == ("ambiguous", None, None)
    assert "every pair on every rail" in f.evidence


def test_a_bad_node_next_to_a_failing_rail() -> None:
    findings = localise(matrix(5, 4, lambda a, b, r: r == "rail0" or "gpu05" in (a, b)))
    assert [key(f) for f in findings] == [
        ("node", "gpu05", None, None),
        ("ambiguous", None, "rail0", None),
    ]


# --- N = 2: one pair, the matrix alone cannot place a failure -----------------------------------


def test_two_nodes_every_rail_is_ambiguous() -> None:
    findings = localise(matrix(2, 8, lambda a, b, r: True))
    assert [key(f) for f in findings] == [("ambiguous", "gpu01", None, "gpu02")]
    assert findings[0].nodes == ("gpu01", "gpu02")
    assert "only pair" in findings[0].evidence


def test_two_nodes_one_rail_is_ambiguous_between_hcas_and_link() -> None:
    findings = localise(matrix(2, 8, lambda a, b, r: r == "rail5"))
    assert [key(f) for f in findings] == [("ambiguous", "gpu01", "rail5", "gpu02")]
    assert findings[0].hca == findings[0].peer_hca == "hca-rail5"


def test_two_nodes_tie_broken_by_single_node_nccl() -> None:
    verdicts = matrix(2, 8, lambda a, b, r: True)
    nccl = [single("gpu01", True), single("gpu02", False)]
    findings = localise(verdicts, nccl)
    # The ib tie-break and the failed single-node run name the same node: one finding.
    assert [key(f) for f in findings] == [("node", "gpu02", None, None)]
    assert "tie-break" in findings[0].evidence and "NVLS not in use" in findings[0].evidence


def test_two_nodes_one_rail_tie_broken_by_an_hca_hint() -> None:
    verdicts = matrix(2, 8, lambda a, b, r: r == "rail5")
    hints = [Hint("gpu01", "rail5", "ibstat: mlx5_9 port 1 rate 200 Gb/s (HDR), expected 400")]
    findings = localise(verdicts, hints=hints)
    assert [(f.kind, f.node, f.rail) for f in findings] == [("hca", "gpu01", "rail5")]
    assert "rate 200 Gb/s" in findings[0].evidence
    # A hint on the other rail does not decide this one.
    assert localise(verdicts, hints=[Hint("gpu01", "rail0", "x")])[0].kind == "ambiguous"


def test_two_nodes_both_suspected_stays_ambiguous() -> None:
    verdicts = matrix(2, 8, lambda a, b, r: True)
    nccl = [single("gpu01", False), single("gpu02", False)]
    kinds = sorted((f.kind, f.node) for f in localise(verdicts, nccl))
    assert kinds == [("ambiguous", "gpu01"), ("node", "gpu01"), ("node", "gpu02")]


# --- NCCL findings -------------------------------------------------------------------------------


def test_single_node_nccl_failure_names_the_node() -> None:
    findings = localise(matrix(4, 8, lambda a, b, r: False), [single("gpu03", False)])
    assert [(f.kind, f.node) for f in findings] == [("node", "gpu03")]
    assert "NVLS not in use" in findings[0].evidence


def test_multi_node_failure_explained_elsewhere_adds_nothing() -> None:
    group = NcclVerdict(
        "pair-2", ("gpu03", "gpu04"), "pair", 200.0, 340.0, False, ("slow",), "slow"
    )
    verdicts = matrix(4, 8, lambda a, b, r: "gpu03" in (a, b) and r == "rail1")
    assert [key(f) for f in localise(verdicts, [group])] == [("hca", "gpu03", "rail1", None)]


def test_unexplained_multi_node_failure_is_ambiguous_across_its_nodes() -> None:
    group = NcclVerdict(
        "all", ("gpu01", "gpu02", "gpu03"), "all", 200.0, 340.0, False, ("slow",), "slow"
    )
    (f,) = localise(matrix(3, 8, lambda a, b, r: False), [group])
    assert f.kind == "ambiguous" and f.node is None and f.nodes == ("gpu01", "gpu02", "gpu03")


# --- property: one injected fault is named exactly ---------------------------------------------


@st.composite
def injected(
    draw: st.DrawFn,
) -> tuple[int, int, str, Fault, tuple[str, str | None, str | None, str | None]]:
    n = draw(st.integers(3, 16))
    r = draw(st.sampled_from([4, 8]))
    names, rail_names = nodes(n), rails(r)
    kind = draw(st.sampled_from(["node", "hca", "link"]))
    x = draw(st.sampled_from(names))
    rail = draw(st.sampled_from(rail_names))
    if kind == "node":
        return n, r, kind, lambda a, b, _r: x in (a, b), ("node", x, None, None)
    if kind == "hca":
        return n, r, kind, lambda a, b, rr: x in (a, b) and rr == rail, ("hca", x, rail, None)
    y = draw(st.sampled_from([m for m in names if m != x]))
    a, b = sorted((x, y))
    return (
        n,
        r,
        kind,
        lambda p, q, rr: {p, q} == {a, b} and rr == rail,
        ("link", a, rail, b),
    )


@settings(max_examples=300, deadline=None)
@given(injected())
def test_property_single_fault_is_named_exactly(case: tuple) -> None:
    n, r, _kind, fails, expected = case
    findings = localise(matrix(n, r, fails))
    assert [key(f) for f in findings] == [expected]


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["node", "hca", "link"]), st.sampled_from([4, 8]), st.integers(0, 7))
def test_property_two_nodes_any_fault_is_one_ambiguous_finding(kind: str, r: int, i: int) -> None:
    rail = f"rail{i % r}"
    fails: Fault = (lambda a, b, rr: True) if kind == "node" else (lambda a, b, rr: rr == rail)
    findings = localise(matrix(2, r, fails))
    assert len(findings) == 1
    (f,) = findings
    assert f.kind == "ambiguous" and {f.node, f.peer} == {"gpu01", "gpu02"}
    assert f.rail == (None if kind == "node" else rail)


@settings(max_examples=150, deadline=None)
@given(st.integers(4, 16), st.sampled_from([4, 8]), st.data())
def test_property_two_bad_hcas_on_one_rail_are_named_exactly(
    n: int, r: int, data: st.DataObject
) -> None:
    x, y = sorted(
        data.draw(st.lists(st.sampled_from(nodes(n)), min_size=2, max_size=2, unique=True))
    )
    rail = data.draw(st.sampled_from(rails(r)))
    findings = localise(matrix(n, r, lambda a, b, rr: rr == rail and bool({a, b} & {x, y})))
    assert [key(f) for f in findings] == [("hca", x, rail, None), ("hca", y, rail, None)]
