"""Every text parser returns a (possibly empty) answer for arbitrary input, never an exception."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainbed.parse.dcgmi import parse_dcgmi_diag
from trainbed.parse.ibstat import parse_ibstat
from trainbed.parse.ibv_devinfo import parse_ibv_devinfo
from trainbed.parse.nemo import parse_nemo_log
from trainbed.parse.nvidia_smi import (
    nearest_nic,
    parse_csv_query,
    parse_query,
    parse_table,
    parse_topology,
)
from trainbed.parse.slurm import parse_scontrol_show_node, parse_sinfo

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"

PARSERS: list[Callable[[str], Any]] = [
    parse_query,
    parse_table,
    lambda t: parse_csv_query(
        t, ["index", "name", "pci.bus_id", "persistence_mode", "memory.total"]
    ),
    lambda t: nearest_nic(parse_topology(t), 0),
    parse_ibstat,
    parse_ibv_devinfo,
    parse_scontrol_show_node,
    parse_sinfo,
    parse_dcgmi_diag,
    parse_nemo_log,
]

# Characters the real outputs are made of, so that random text often looks almost right.
_ALPHABET = st.sampled_from(list("\t\n |+-=:,.*@[]()'0123456789ABCDEFXGPUNICmlx_ PortCAState"))
_TEXT = st.one_of(st.text(), st.text(alphabet=_ALPHABET, max_size=400))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(text=_TEXT)
@pytest.mark.parametrize("parser", PARSERS)
def test_parsers_never_raise(parser: Callable[[str], Any], text: str) -> None:
    parser(text)


_FIXTURE_TEXTS = sorted(p.name for p in FIXTURES.glob("*.txt"))


@settings(max_examples=40)
@given(data=st.data())
@pytest.mark.parametrize("parser", PARSERS)
def test_parsers_never_raise_on_mangled_fixtures(parser: Callable[[str], Any], data: Any) -> None:
    name = data.draw(st.sampled_from(_FIXTURE_TEXTS))
    lines = (FIXTURES / name).read_text().splitlines(keepends=True)
    kept = data.draw(st.lists(st.sampled_from(lines), max_size=60)) if lines else []
    parser("".join(kept))
