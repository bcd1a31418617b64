"""Judging NCCL and ib_write_bw output on real fixtures against the derived thresholds."""

from __future__ import annotations

import copy
import statistics
from pathlib import Path
from typing import Any

import pytest

from tests.unit import probe_helpers as h
from trainbed.parse.nccl import parse_nccl
from trainbed.parse.perftest import parse_ib_write_bw
from trainbed.probes import judge
from trainbed.probes.jobs import Job
from trainbed.probes.judge import judge_ib_write_bw, judge_nccl, large_message_busbw
from trainbed.probes.thresholds import ProbeThresholds, derive_thresholds

SINGLE = {"name": "single-gpu01", "nodes": ["gpu01"], "kind": "single"}
PAIR = {"name": "pair-1", "nodes": ["gpu01", "gpu02"], "kind": "pair", "env": {"NCCL_ALGO": "Ring"}}
PAIR_DEFAULT_ALGO = {"name": "pair-1", "nodes": ["gpu01", "gpu02"], "kind": "pair"}


@pytest.fixture(scope="module")
def t() -> ProbeThresholds:
    return derive_thresholds(h.load_prod())


def runs(path: Path) -> list[dict[str, Any]]:
    return parse_nccl(h.read(path))["runs"]


def test_single_node_369_fails_as_nvls_not_in_use(t: ProbeThresholds) -> None:
    v = judge_nccl(SINGLE, runs(h.NVLS_OFF), t)
    assert not v.passed
    assert v.diagnosis == judge.NVLS_OFF
    assert any("NVLS not in use" in r for r in v.reasons)
    # Median of the eight figures of the 1, 2, 4 and 8 GiB rows.
    assert v.busbw_gbs == pytest.approx(365.51, abs=0.01)
    assert v.samples == 8
    assert v.threshold_gbs == 440.0
    assert v.peak_busbw_gbs == 368.69


def test_single_node_nvls_479_passes(t: ProbeThresholds) -> None:
    first, second = runs(h.NVLS_479)
    for run in (first, second):
        v = judge_nccl(SINGLE, [run], t)
        assert v.passed, v.reasons
        assert v.reasons == () and v.diagnosis is None
        assert 470 < v.busbw_gbs < 480
    both = judge_nccl(SINGLE, [first, second], t)
    assert both.passed
    assert both.busbw_gbs == min(
        judge_nccl(SINGLE, [first], t).busbw_gbs, judge_nccl(SINGLE, [second], t).busbw_gbs
    )


def test_statistic_is_the_median_of_large_rows(t: ProbeThresholds) -> None:
    (run,) = runs(h.DELL_469)
    values = large_message_busbw(run, 1 << 30)
    assert len(values) == 10  # 1, 2, 4, 8, 16 GiB × out-of-place and in-place
    assert min(values) == 448.9 and max(values) == 469.21
    v = judge_nccl(PAIR_DEFAULT_ALGO, [run], t)
    assert v.busbw_gbs == round(statistics.median(values), 2)
    assert v.statistic == "median"


def test_wrong_and_out_of_bounds_fail_on_correctness(t: ProbeThresholds) -> None:
    v = judge_nccl(PAIR, runs(h.WRONG_OOB), t)
    assert not v.passed
    assert v.diagnosis == judge.CORRUPTION
    assert "#wrong = 128: all_reduce returned wrong data" in v.reasons
    assert "out of bounds values: 4" in v.reasons
    oob = judge_nccl(PAIR, runs(h.OOB_ISSUE37), t)
    assert oob.diagnosis == judge.CORRUPTION and "out of bounds values: 2" in oob.reasons


def test_any_wrong_element_fails_whatever_the_bandwidth(t: ProbeThresholds) -> None:
    (run, _) = runs(h.NVLS_479)
    bad = copy.deepcopy(run)
    bad["rows"][-1]["in_place"]["wrong"] = 1
    bad["wrong_total"] = 1
    bad["ok"] = False
    v = judge_nccl(SINGLE, [bad], t)
    assert not v.passed and v.busbw_gbs > 470
    assert v.diagnosis == judge.CORRUPTION
    assert v.reasons == ("#wrong = 1: all_reduce returned wrong data",)


def test_two_node_ring_392_passes_the_multi_node_gate(t: ProbeThresholds) -> None:
    v = judge_nccl(PAIR, runs(h.RING_392), t)
    assert v.passed, v.reasons
    assert v.threshold_gbs == 340.0
    assert v.busbw_gbs == pytest.approx(390.0, abs=0.5)


def test_two_node_469_is_above_the_ceiling_so_not_a_ring_measurement(t: ProbeThresholds) -> None:
    v = judge_nccl(PAIR, runs(h.DELL_469), t)
    assert not v.passed
    assert v.diagnosis == judge.NOT_RING
    assert "400 GB/s network ceiling" in v.reasons[0]
    assert "NCCL_ALGO=Ring was not in effect" in v.reasons[0]
    # Without NCCL_ALGO=Ring asked for, the figure passes, with a note on why it reads high.
    default = judge_nccl(PAIR_DEFAULT_ALGO, runs(h.DELL_469), t)
    assert default.passed
    assert "tree" in default.notes[0]


def test_multi_node_slow_fails(t: ProbeThresholds) -> None:
    v = judge_nccl(PAIR, runs(h.GCP_338), t)
    assert not v.passed and v.diagnosis == judge.SLOW
    assert v.busbw_gbs < 340


def test_configuration_2_ceiling(tmp_path: Path) -> None:
    t2 = derive_thresholds(h.inventory_for(tmp_path, 2, 2))
    names = [n.hostname for n in h.inventory_for(tmp_path, 2, 2).compute]
    spec = {**PAIR, "nodes": names}
    v = judge_nccl(spec, runs(h.RING_392), t2)
    assert v.diagnosis == judge.NOT_RING  # 390 GB/s cannot cross 4 × 400 Gb/s rails
    ok = judge_nccl(spec, parse_nccl(h.nccl_text(185, names))["runs"], t2)
    assert ok.passed, ok.reasons
    slow = judge_nccl(spec, parse_nccl(h.nccl_text(150, names))["runs"], t2)
    assert slow.diagnosis == judge.SLOW


def test_unfinished_run_fails_with_the_parser_errors(t: ProbeThresholds) -> None:
    v = judge_nccl(PAIR_DEFAULT_ALGO, runs(h.UNFINISHED), t)
    assert not v.passed and v.diagnosis == judge.UNFINISHED
    assert any("no footer" in r for r in v.reasons)


@pytest.mark.parametrize(
    ("path", "diagnosis"),
    [(h.NO_FABRICMANAGER, judge.FABRIC_MANAGER), (h.CUDA_BUSY, judge.GPU_BUSY)],
)
def test_cuda_failures_are_diagnosed(t: ProbeThresholds, path: Path, diagnosis: str) -> None:
    v = judge_nccl(SINGLE, runs(path), t)
    assert not v.passed and v.diagnosis == diagnosis and v.busbw_gbs is None


def test_missing_gpu_shows_in_the_rank_count(t: ProbeThresholds) -> None:
    v = judge_nccl(SINGLE, parse_nccl(h.nccl_text(480, ["gpu01"], gpus=7))["runs"], t)
    assert not v.passed and v.diagnosis == judge.GPU_MISSING
    assert "7 ranks took part, expected 8" in v.reasons[0]


def test_no_output_and_failed_jobs(t: ProbeThresholds) -> None:
    v = judge_nccl(SINGLE, [], t)
    assert not v.passed and v.diagnosis == judge.NO_OUTPUT
    job = Job("4242", "single-gpu01", "nccl", ("gpu01",), "TIMEOUT", "time limit 00:15:00")
    v = judge_nccl(SINGLE, [], t, job)
    assert v.diagnosis == judge.JOB_FAILED and v.job_id == "4242"
    assert v.reasons == ("job 4242 TIMEOUT: time limit 00:15:00",)
    rejected = Job(None, "pair-1", "nccl", ("gpu01", "gpu02"), "REJECTED", "Invalid partition")
    v = judge_nccl(PAIR, [], t, rejected)
    assert "not submitted" in v.reasons[0] and "Invalid partition" in v.reasons[0]
    # Output that passes but a job that then died (NODE_FAIL at the end) still fails.
    died = Job("7", "pair-1", "nccl", ("gpu01", "gpu02"), "NODE_FAIL")
    v = judge_nccl(PAIR, runs(h.RING_392), t, died)
    assert not v.passed and "job 7 NODE_FAIL" in v.reasons


def test_sweep_without_large_messages_fails(t: ProbeThresholds) -> None:
    (run,) = runs(h.NVLS_OFF)
    small = {**run, "rows": [r for r in run["rows"] if r["size_bytes"] < 1 << 30]}
    v = judge_nccl(SINGLE, [small], t)
    assert v.diagnosis == judge.NO_LARGE_MESSAGES and v.busbw_gbs is None


def test_large_message_size_is_configurable(t: ProbeThresholds) -> None:
    import dataclasses

    (run,) = runs(h.DELL_469)
    t8 = dataclasses.replace(t, large_message_bytes=1 << 33)
    assert len(large_message_busbw(run, 1 << 33)) == 4
    assert judge_nccl(PAIR_DEFAULT_ALGO, [run], t8).samples == 4


def _ib(runs_: list[dict[str, Any]], t: ProbeThresholds, job: Job | None = None) -> Any:
    return judge_ib_write_bw(
        round=1,
        node_a="gpu01",
        node_b="gpu02",
        rail="rail1",
        hca_a="mlx5_3",
        hca_b="mlx5_3",
        runs=runs_,
        thresholds=t,
        job=job,
    )


def test_ib_write_bw_pass_and_fail(t: ProbeThresholds) -> None:
    good = _ib(parse_ib_write_bw(h.ib_text(395.2, "mlx5_3"))["runs"], t)
    assert good.passed and good.gbps == 395.2 and good.reason is None
    assert good.threshold_gbps == 360.0
    slow = _ib(parse_ib_write_bw(h.ib_text(250.0, "mlx5_3"))["runs"], t)
    assert not slow.passed and slow.reason.startswith("250.00 Gb/s < 360 Gb/s")


def test_ib_write_bw_real_fixtures(t: ProbeThresholds) -> None:
    roce = _ib(parse_ib_write_bw(h.read(h.IB_ROCE_92))["runs"], t)
    assert not roce.passed and roce.gbps == 92.4
    refused = _ib(parse_ib_write_bw(h.read(h.IB_REFUSED))["runs"], t)
    assert not refused.passed and refused.gbps is None
    assert "Couldn't connect to 192.168.125.211:18515" in refused.reason


def test_ib_write_bw_without_output(t: ProbeThresholds) -> None:
    assert _ib([], t).reason == "no ib_write_bw output"
    job = Job("99", "round-1", "ib_write_bw", ("gpu01", "gpu02"), "TIMEOUT")
    v = _ib([], t, job)
    assert not v.passed and v.reason == "job 99 TIMEOUT" and v.job_id == "99"


def test_verdicts_round_trip_through_dicts(t: ProbeThresholds) -> None:
    v = judge_nccl(SINGLE, runs(h.NVLS_OFF), t)
    assert judge.NcclVerdict.from_dict(v.as_dict()) == v
    ib = _ib(parse_ib_write_bw(h.ib_text(395.2))["runs"], t)
    assert judge.IbVerdict.from_dict(ib.as_dict()) == ib
