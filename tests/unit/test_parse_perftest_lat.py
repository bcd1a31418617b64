"""parse_ib_write_lat against real perftest latency output (tests/fixtures/real), and
transformations of it.

Expected values are read off the fixture files by eye, not copied from the parser's output.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from trainbed.parse.perftest_lat import parse_ib_write_lat

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"
SPARK = "perftest_ib_write_lat_client_rdma_cm_dgx_spark_cx7_2b_p99_1.57.txt"
READ_LAT = "perftest_ib_read_lat_client_roce_cx5_cpufreq_warnings_interleaved_p99_7.38.txt"
REFUSED = "perftest_ib_write_bw_client_connect_refused_pr228.txt"


def read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def only_run(text: str) -> dict:
    runs = parse_ib_write_lat(text)["runs"]
    assert len(runs) == 1
    return runs[0]


# --- one test per real fixture -----------------------------------------------------------------


def test_write_lat_client_full_table() -> None:
    run = only_run(read(SPARK))
    assert run["ok"] and run["errors"] == [] and run["warnings"] == []
    assert (run["test"], run["side"], run["device"], run["link_type"], run["unit"]) == (
        "RDMA_Write Latency Test",
        "client",
        "rocep1s0f1",
        "IB",
        "usec",
    )
    assert run["rows"] == [
        {
            "bytes": 2,
            "iterations": 1000,
            "t_min_us": 1.42,
            "t_max_us": 1.93,
            "t_typical_us": 1.47,
            "t_avg_us": 1.47,
            "t_stdev_us": 0.0,
            "p99_us": 1.57,
            "p999_us": 1.93,
        }
    ]
    assert (run["bytes"], run["typical_us"], run["p99_us"], run["p999_us"]) == (2, 1.47, 1.57, 1.93)


def test_read_lat_same_table_with_cpu_frequency_lines_between() -> None:
    run = only_run(read(READ_LAT))
    assert run["ok"] and run["test"] == "RDMA_Read Latency Test" and run["link_type"] == "Ethernet"
    assert len(run["warnings"]) == 2 and all("CPU Frequency" in w for w in run["warnings"])
    assert (run["typical_us"], run["p99_us"], run["p999_us"]) == (7.04, 7.38, 16.81)
    assert run["rows"][0]["t_max_us"] == 16.81 and run["rows"][0]["t_stdev_us"] == 0.31


def test_connection_refused_is_a_failed_client_run() -> None:
    run = only_run(read(REFUSED))
    assert not run["ok"] and run["side"] == "client" and run["p99_us"] is None
    assert "Couldn't connect to 192.168.125.211:18515" in run["errors"]
    assert "Unable to init the socket connection" in run["errors"]


# --- transformations of the real output --------------------------------------------------------


def test_two_runs_one_after_the_other() -> None:
    runs = parse_ib_write_lat(read(SPARK) + read(READ_LAT))["runs"]
    assert [r["p99_us"] for r in runs] == [1.57, 7.38]


def test_srun_prefixed_lines() -> None:
    text = "".join(f"0: {line}\n" for line in read(SPARK).splitlines())
    assert only_run(text)["p99_us"] == 1.57


def test_cycles_are_not_read_as_microseconds() -> None:
    text = read(SPARK).replace("[usec]", "[cycles]")
    run = only_run(text)
    assert not run["ok"] and "latency reported in cycles" in run["errors"][0]


def test_older_table_without_percentiles() -> None:
    # perftest 2.x/3.x RESULT_FMT_LAT (perftest_parameters.h): t_min, t_max, t_typical only.
    lines = read(SPARK).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith(" #bytes"))
    lines[header] = " #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]"
    lines[header + 1] = " 2       1000          1.42           1.93         1.47"
    run = only_run("\n".join(lines))
    assert run["ok"] and run["typical_us"] == 1.47 and run["p99_us"] is None


def test_truncated_before_the_row_is_not_ok() -> None:
    text = read(SPARK).split(" 2       1000")[0]
    run = only_run(text)
    assert not run["ok"] and run["rows"] == [] and "did not run to completion" in run["errors"][0]


def test_smallest_size_carries_the_summary() -> None:
    lines = read(SPARK).splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith(" 2 "))
    lines.insert(
        row + 1,
        " 4096    1000          3.74           4.39         3.85   3.85   0.04   3.93   4.39",
    )
    run = only_run("\n".join(lines))
    assert len(run["rows"]) == 2 and run["bytes"] == 2 and run["p99_us"] == 1.57


def test_empty_and_unrelated_input() -> None:
    assert only_run("")["errors"] == ["no ib_write_lat output found"]
    assert not only_run("hello\nworld\n")["ok"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_never_raises(noise: str) -> None:
    for text in (noise, read(SPARK) + noise, noise + read(READ_LAT)):
        for run in parse_ib_write_lat(text)["runs"]:
            assert isinstance(run["ok"], bool)
