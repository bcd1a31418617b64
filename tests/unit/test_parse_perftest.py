"""parse_ib_write_bw against real perftest output (tests/fixtures/real), and transformations of it.

Expected values are read off the fixture files by eye, not copied from the parser's output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainbed.parse.perftest import parse_ib_write_bw

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"

REFUSED = "perftest_ib_write_bw_client_connect_refused_pr228.txt"
GBITS = "perftest_ib_write_bw_client_gbits_roce100g_cpufreq_warning.txt"
CUDA_CLIENT = "perftest_ib_write_bw_client_use_cuda_duration_peak0_roce.txt"
CUDA_SERVER = "perftest_ib_write_bw_server_use_cuda_duration_peak0_roce.txt"

MB_PER_SEC_IN_GBPS = 8 * 2**20 / 1e9


def read(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


def only_run(text: str) -> dict:
    runs = parse_ib_write_bw(text)["runs"]
    assert len(runs) == 1
    return runs[0]


# --- one test per real fixture -----------------------------------------------------------------


def test_client_connection_refused() -> None:
    run = only_run(read(REFUSED))
    assert run["ok"] is False
    assert run["side"] == "client"
    assert run["rows"] == []
    assert run["bw_avg_gbps"] is None
    assert "Couldn't connect to 192.168.125.211:18515" in run["errors"]
    # Two messages printed on one line (missing newline) come back as two errors.
    assert "Unable to open file descriptor for socket connection" in run["errors"]
    assert "Unable to init the socket connection" in run["errors"]


def test_client_report_gbits_with_cpu_frequency_warning() -> None:
    run = only_run(read(GBITS))
    assert run["ok"] is True
    assert run["errors"] == []
    assert run["side"] == "client"
    assert run["device"] == "mlx5_0"
    assert run["link_type"] == "Ethernet"
    assert run["unit"] == "Gb/sec"
    assert run["rows"] == [
        {
            "bytes": 65536,
            "iterations": 5000,
            "bw_peak_gbps": 92.42,
            "bw_avg_gbps": 92.40,
            "msg_rate_mpps": 0.176230,
        }
    ]
    assert run["bw_avg_gbps"] == 92.40
    assert any("CPU frequency" in w for w in run["warnings"])


def test_client_duration_mode_peak_not_measured() -> None:
    run = only_run(read(CUDA_CLIENT))
    assert run["ok"] is True
    assert run["errors"] == []
    assert run["side"] == "client"
    assert run["device"] == "mlx5_1"
    assert run["link_type"] == "Ethernet"
    assert run["qps"] == 16
    assert run["duration_mode"] is True
    assert len(run["rows"]) == 1
    row = run["rows"][0]
    assert row["bytes"] == 65536
    assert row["iterations"] == 10384867
    assert row["bw_peak_gbps"] is None  # printed as 0.00 under -D
    assert row["bw_avg_gbps"] == 181.46
    assert row["msg_rate_mpps"] == 0.346100
    assert run["bw_avg_gbps"] == 181.46


def test_server_side_duration_mode() -> None:
    run = only_run(read(CUDA_SERVER))
    assert run["ok"] is True
    assert run["side"] == "server"
    assert run["device"] == "mlx5_1"
    assert run["link_type"] == "Ethernet"
    assert run["qps"] == 16
    assert len(run["rows"]) == 1
    assert run["rows"][0]["bytes"] == 65536
    assert run["rows"][0]["bw_peak_gbps"] is None
    assert run["bw_avg_gbps"] == 181.46


# --- transformations of real fixtures ----------------------------------------------------------


@pytest.mark.parametrize("unit", ["MB/sec", "MiB/sec"])
def test_megabytes_per_second_are_binary_megabytes(unit: str) -> None:
    text = read(GBITS).replace("Gb/sec", unit)
    text = text.replace("92.42              92.40", "11017.50           11000.00")
    run = only_run(text)
    assert run["unit"] == unit
    assert run["rows"][0]["bw_avg_gbps"] == pytest.approx(11000.00 * MB_PER_SEC_IN_GBPS)
    assert run["rows"][0]["bw_avg_gbps"] == pytest.approx(92.274688)
    assert run["rows"][0]["bw_peak_gbps"] == pytest.approx(11017.50 * MB_PER_SEC_IN_GBPS)


def test_several_message_sizes_report_the_largest() -> None:
    text = read(GBITS)
    row = " 65536      5000             92.42              92.40              0.176230\n"
    more = (
        " 2          5000             0.11               0.10               6.250000\n"
        + row
        + " 8388608    5000             97.10              97.01              0.001446\n"
    )
    run = only_run(text.replace(row, more))
    assert [r["bytes"] for r in run["rows"]] == [2, 65536, 8388608]
    assert run["bw_avg_gbps"] == 97.01


def test_crlf_and_srun_prefix_read_the_same() -> None:
    text = read(CUDA_CLIENT)
    transformed = "".join("3: " + line for line in text.splitlines(keepends=True))
    transformed = transformed.replace("\n", "\r\n")
    assert parse_ib_write_bw(transformed) == parse_ib_write_bw(text)


def test_cut_off_before_the_results() -> None:
    text = read(CUDA_CLIENT)
    run = only_run(text[: text.index(" #bytes")])
    assert run["ok"] is False
    assert run["rows"] == []
    assert run["side"] == "client"
    assert any("no results" in e for e in run["errors"])


def test_runs_printed_one_after_the_other() -> None:
    runs = parse_ib_write_bw(read(GBITS) + read(CUDA_CLIENT) + read(REFUSED))["runs"]
    assert [r["bw_avg_gbps"] for r in runs] == [92.40, 181.46, None]
    assert [r["ok"] for r in runs] == [True, True, False]
    assert [r["device"] for r in runs] == ["mlx5_0", "mlx5_1", None]


def test_failed_attempt_then_a_good_run() -> None:
    runs = parse_ib_write_bw(read(REFUSED) + read(GBITS))["runs"]
    assert [r["ok"] for r in runs] == [False, True]
    assert runs[1]["bw_avg_gbps"] == 92.40
    assert runs[1]["errors"] == []


def test_nothing_recognisable() -> None:
    run = only_run("hello\n")
    assert run["ok"] is False
    assert run["errors"] == ["no ib_write_bw output found"]


# --- robustness --------------------------------------------------------------------------------

_FIXTURE_LINES = sorted(
    {line for p in FIXTURES.glob("perftest_*.txt") for line in read(p.name).splitlines()}
)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_arbitrary_text(text: str) -> None:
    result = parse_ib_write_bw(text)
    assert result["runs"]
    json.dumps(result)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_FIXTURE_LINES) | st.text(max_size=40), max_size=60))
def test_never_raises_on_shuffled_real_lines(chunks: list[str]) -> None:
    result = parse_ib_write_bw("\n".join(chunks))
    for run in result["runs"]:
        assert run["ok"] is (not run["errors"])
    json.dumps(result)
