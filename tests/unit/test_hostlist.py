"""Slurm hostlists (trainbed.hostlist): expansion, compression and their round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trainbed.hostlist import compress_hostlist, expand_hostlist


@pytest.mark.parametrize(
    ("hostlist", "hosts"),
    [
        ("gpu[01-03,07],cp1", ["gpu01", "gpu02", "gpu03", "gpu07", "cp1"]),
        ("node[8-10]", ["node8", "node9", "node10"]),
        ("node[08-10]", ["node08", "node09", "node10"]),
        ("r[1-2]n[1-2]", ["r1n1", "r1n2", "r2n1", "r2n2"]),
        ("gpu[1-2]-ib", ["gpu1-ib", "gpu2-ib"]),
        ("single", ["single"]),
        ("", []),
    ],
)
def test_expand_hostlist(hostlist: str, hosts: list[str]) -> None:
    assert expand_hostlist(hostlist) == hosts


@pytest.mark.parametrize("bad", ["gpu[01-03", "gpu01-03]", "gpu[a-b]", "gpu[3-1]", "g[[1]]"])
def test_expand_hostlist_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        expand_hostlist(bad)


@pytest.mark.parametrize(
    ("hosts", "hostlist"),
    [
        (["gpu01", "gpu02", "gpu03", "gpu07", "cp1"], "gpu[01-03,07],cp1"),
        (["gpu03", "gpu01", "gpu02", "gpu01"], "gpu[01-03]"),
        (["node9", "node10"], "node[9-10]"),
        (["login", "gpu1"], "login,gpu1"),
        ([], ""),
    ],
)
def test_compress_hostlist(hosts: list[str], hostlist: str) -> None:
    assert compress_hostlist(hosts) == hostlist


_hostname = st.from_regex(r"[a-z][a-z0-9-]{0,6}[0-9]{0,4}", fullmatch=True)


@given(st.lists(_hostname, max_size=40))
def test_hostlist_round_trip(hosts: list[str]) -> None:
    compressed = compress_hostlist(hosts)
    expanded = expand_hostlist(compressed)
    assert set(expanded) == set(hosts)
    assert len(expanded) == len(set(expanded)), "compress deduplicates"
    assert compress_hostlist(expanded) == compressed


@given(
    prefix=st.from_regex(r"[a-z]{1,5}", fullmatch=True),
    numbers=st.sets(st.integers(min_value=0, max_value=300), max_size=60),
    width=st.integers(min_value=1, max_value=4),
)
def test_padded_numbered_hosts_round_trip_in_order(
    prefix: str, numbers: set[int], width: int
) -> None:
    hosts = [f"{prefix}{n:0{width}d}" for n in sorted(numbers)]
    assert expand_hostlist(compress_hostlist(hosts)) == hosts
