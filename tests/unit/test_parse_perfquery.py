"""perfquery -x parser and counter deltas against real output (see tests/fixtures/real/SOURCES.md)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from trainbed.parse.perfquery import ERROR_COUNTERS, PortCounters, counter_delta, parse_perfquery

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"
FLAPPED = FIXTURES / "perfquery_x_switch_port_edr_linkdowned1_xmitdiscards20046_relayerr7.txt"
CLEAN = FIXTURES / "perfquery_x_switch_2ports_edr_zero_errors_xmitwait.txt"


def test_switch_port_linkdowned_discards_relay_errors() -> None:
    (port,) = parse_perfquery(FLAPPED.read_text())

    assert (port.lid, port.port, port.capability_mask) == (2052, 1, "0x5300")
    assert {n: v for n, v in port.errors.items() if v} == {
        "LinkDownedCounter": 1,
        "PortRcvSwitchRelayErrors": 7,
        "PortXmitDiscards": 20046,
    }
    assert set(port.errors) == set(ERROR_COUNTERS)
    assert port.counters["PortXmitWait"] == 41864608
    assert port.counters["PortXmitData"] == 178791657177235
    assert port.counters["QP1Dropped"] == 0
    assert "PortSelect" not in port.counters and "CounterSelect2" not in port.counters


def test_two_ports_all_error_counters_zero() -> None:
    ports = parse_perfquery(CLEAN.read_text())

    assert [(p.lid, p.port) for p in ports] == [(1719, 1), (1719, 2)]
    assert all(v == 0 for p in ports for v in p.errors.values())
    assert ports[0].counters["PortXmitWait"] == 22730501
    assert ports[1].counters["PortXmitData"] == 26006570014026


def _grown(port: PortCounters, **growth: int) -> PortCounters:
    counters = dict(port.counters)
    for name, by in growth.items():
        counters[name] += by
    return dataclasses.replace(port, counters=counters)


@pytest.mark.parametrize(
    ("growth", "expected_errors"),
    [
        ({}, {}),
        ({"LinkDownedCounter": 2}, {"LinkDownedCounter": 2}),
        (
            {"SymbolErrorCounter": 150, "PortRcvErrors": 3},
            {"SymbolErrorCounter": 150, "PortRcvErrors": 3},
        ),
        ({"LinkDownedCounter": -1}, {"LinkDownedCounter": None}),  # cleared in between
    ],
)
def test_counter_delta(growth: dict[str, int], expected_errors: dict[str, int | None]) -> None:
    (before,) = parse_perfquery(FLAPPED.read_text())
    after = _grown(before, PortXmitData=1000, **growth)

    delta = counter_delta(before, after)

    assert delta["PortXmitData"] == 1000
    assert {n: v for n, v in delta.items() if n in ERROR_COUNTERS and v != 0} == expected_errors


def test_delta_only_over_counters_in_both() -> None:
    before = PortCounters(1, 1, counters={"SymbolErrorCounter": 1})
    after = PortCounters(1, 1, counters={"SymbolErrorCounter": 4, "LinkDownedCounter": 1})
    assert counter_delta(before, after) == {"SymbolErrorCounter": 3}


def test_counters_without_header_ignored() -> None:
    assert parse_perfquery("SymbolErrorCounter:..............5\n") == []
    assert parse_perfquery("ibwarn: [1234] mad_rpc_open_port: can't open UMAD port\n") == []
