"""A rail with no master subnet manager: named from the run's ibstat facts and perftest's message."""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.probe_helpers import REPO, evaluate_suite, inventory_for, read, suite_outputs
from trainbed.inventory import Inventory
from trainbed.parse.perftest import parse_ib_write_bw
from trainbed.probes.evaluate import IbOutput, hca_on_rail
from trainbed.probes.facts import port_facts

STARTED = "2026-12-01T10:00:00+00:00"
ALL_ACTIVE = REPO / "tests/fixtures/real/ibstat_h100_node_8x_cx7_ndr400_all_active.txt"

#: What ib_write_bw prints when its port is not Active: not a captured sample, the lines of
#: perftest's format strings (perftest_parameters.c ``set_link_layer``: " Port number %d state is
#: %s\n" with portStates[] = {"Nop","Down","Init","Armed","","Active Defer"}; then ``check_link``'s
#: " Couldn't set the link layer" and write_bw.c's " Couldn't get context for the device").
PORT_INIT = (
    " Port number 1 state is Init\n"
    " Couldn't set the link layer\n"
    " Couldn't get context for the device\n"
)


def _initializing(ibstat: str, device: str) -> str:
    """The real all-Active ibstat with ``device``'s port as an unmanaged port reads: Initializing,
    no LID, no SM LID (the layout is the fixture's; only those three values change)."""
    head, sep, rest = ibstat.partition(f"CA '{device}'\n")
    block, nxt, tail = rest.partition("\nCA '")
    block = block.replace("State: Active", "State: Initializing")
    block = re.sub(r"Base lid: \d+", "Base lid: 0", block)
    block = re.sub(r"SM lid: \d+", "SM lid: 0", block)
    return head + sep + block + nxt + tail


def _renamed(ibstat: str, devices: list[str]) -> str:
    """The fixture's CAs, in order, renamed to ``devices`` (a CA beyond them becomes 'spare')."""
    names = iter(devices)
    return re.sub(r"^CA '[^']*'$", lambda _: f"CA '{next(names, 'spare')}'", ibstat, flags=re.M)


def _facts(ibstat: str) -> str:
    return f"=== driver\n535.183.01\n=== ibstat\n{ibstat}\n=== perftest\n24.10.0\n=== end\n"


def _results(inv: Inventory, rail: str, initializing: set[str]) -> dict:
    """Evaluate a suite whose ``rail`` fails with perftest's Init message on every pair; the
    nodes in ``initializing`` report their port on ``rail`` Initializing."""
    nccl, ib = suite_outputs(inv)
    ib = [
        IbOutput(o.node_a, o.node_b, o.rail, PORT_INIT, o.job_id) if o.rail == rail else o
        for o in ib
    ]
    ibstat = read(ALL_ACTIVE)
    facts = {}
    for node in inv.compute:
        text = _renamed(ibstat, [h.device for h in node.hcas])
        if node.hostname in initializing:
            text = _initializing(text, hca_on_rail(inv, node.hostname, rail) or "")
        facts[node.hostname] = _facts(text)
    return evaluate_suite(
        inv, nccl, ib, started=STARTED, finished=STARTED, ports=port_facts(inv, facts)
    )


def test_perftest_port_state_message_is_kept() -> None:
    (run,) = parse_ib_write_bw(PORT_INIT)["runs"]
    assert not run["ok"]
    assert run["errors"][0] == "Port number 1 state is Init"


def test_two_nodes_both_ends_initializing_is_no_subnet_manager(tmp_path: Path) -> None:
    inv = inventory_for(tmp_path, 2, 1)
    rail = inv.rails[3].name
    nodes = [n.hostname for n in inv.compute]
    results = _results(inv, rail, set(nodes))
    (finding,) = results["findings"]
    assert finding["kind"] == "subnet_manager" and finding["rail"] == rail
    evidence = finding["evidence"]
    assert evidence.startswith(f"no master subnet manager answering on {rail}")
    for node in nodes:
        device = hca_on_rail(inv, node, rail)
        assert f"{node} {device} port 1 Initializing (LinkUp, SM lid 0)" in evidence
    assert "perftest: 'Port number 1 state is Init'" in evidence
    # perftest's own message stays in the verdict, too.
    failing = [v for v in results["ib_write_bw"] if not v["passed"]]
    assert failing and all("Port number 1 state is Init" in v["reason"] for v in failing)
    assert not results["passed"]


def test_three_nodes_rail_without_sm_is_not_the_rail_as_a_whole(tmp_path: Path) -> None:
    inv = inventory_for(tmp_path, 3, 1)
    rail = inv.rails[5].name
    results = _results(inv, rail, {n.hostname for n in inv.compute})
    assert [(f["kind"], f["rail"]) for f in results["findings"]] == [("subnet_manager", rail)]


def test_one_end_active_is_left_to_the_matrix(tmp_path: Path) -> None:
    """An Active port on the rail means an SM runs there: no subnet-manager verdict."""
    inv = inventory_for(tmp_path, 2, 1)
    rail = inv.rails[0].name
    first = inv.compute[0].hostname
    results = _results(inv, rail, {first})
    assert [f["kind"] for f in results["findings"]] != ["subnet_manager"]
    assert all(f["kind"] != "subnet_manager" for f in results["findings"])
