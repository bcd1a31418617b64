"""trainbed.verdicts.latency on parsed real ib_write_lat output and on its failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainbed.parse.perftest_lat import parse_ib_write_lat
from trainbed.probes.judge import IbVerdict, with_latency
from trainbed.probes.thresholds import ProbeThresholds
from trainbed.verdicts.latency import P99_MAX_US, judge

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"
SPARK = FIXTURES / "perftest_ib_write_lat_client_rdma_cm_dgx_spark_cx7_2b_p99_1.57.txt"
READ_LAT = (
    FIXTURES / "perftest_ib_read_lat_client_roce_cx5_cpufreq_warnings_interleaved_p99_7.38.txt"
)
REFUSED = FIXTURES / "perftest_ib_write_bw_client_connect_refused_pr228.txt"
PAIR = "gpu01 mlx5_0 → gpu02 mlx5_0"


def runs(path: Path) -> list:
    return parse_ib_write_lat(path.read_text())["runs"]


def test_healthy_pair_passes_with_its_figures() -> None:
    verdict = judge(PAIR, runs(SPARK))
    assert verdict.passed and verdict.problem is None
    assert (verdict.typical_us, verdict.p99_us, verdict.p999_us) == (1.47, 1.57, 1.93)
    assert verdict.p99_max_us == P99_MAX_US == 4.2


def test_p99_over_the_bar_fails_in_the_suites_form() -> None:
    verdict = judge(PAIR, runs(READ_LAT))
    assert not verdict.passed
    assert verdict.problem == f"{PAIR} ib_write_lat p99: expected <= 4.2 µs, got 7.38 µs"
    assert judge(PAIR, runs(READ_LAT), p99_max_us=8).passed


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        ([], "ib_write_lat: no output"),
        (runs(REFUSED), "ib_write_lat: failed (Couldn't connect to 192.168.125.211:18515"),
    ],
)
def test_no_figure_is_a_failure_with_its_reason(found: list, expected: str) -> None:
    verdict = judge(PAIR, found)
    assert not verdict.passed and verdict.problem is not None and expected in verdict.problem


def _bars(p99_max_us: float = P99_MAX_US) -> ProbeThresholds:
    return ProbeThresholds(360.0, "test", 0.0, 0.0, "test", 0, ib_write_lat_p99_max_us=p99_max_us)


def test_table_without_percentiles_is_not_a_pass() -> None:
    text = SPARK.read_text().replace(
        "t_typical[usec]    t_avg[usec]    t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec]",
        "t_typical[usec]",
    )
    verdict = judge(PAIR, parse_ib_write_lat(text)["runs"])
    assert not verdict.passed and "no 99% percentile" in str(verdict.problem)
    assert not verdict.measured and "could not run" in str(verdict.problem)
    # ... and it blames no HCA: the pair stands on its bandwidth, its latency not measured.
    bandwidth = IbVerdict(1, "gpu01", "gpu02", "rail0", "mlx5_0", "mlx5_0", 392.0, 360.0, True)
    pair = with_latency(bandwidth, parse_ib_write_lat(text)["runs"], _bars())
    assert pair.passed and pair.lat_passed is None and pair.reason is None
    over = with_latency(bandwidth, runs(SPARK), _bars(1.0))
    assert not over.passed and over.lat_passed is False  # a measured latency still judges it


def test_client_figure_wins_over_the_servers() -> None:
    client = runs(SPARK)[0]
    server = {**runs(READ_LAT)[0], "side": "server"}
    assert judge(PAIR, [server, client]).p99_us == 1.57
