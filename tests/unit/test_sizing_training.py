"""The training-time judge against the paper's Table 4."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainbed.parse.nemo import parse_nemo_log
from trainbed.sizing.training import (
    TABLE4,
    efficiency_per_doubling,
    expected_minutes,
    judge,
    step_stats,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"


def paced(minutes_per_500: float, steps: int = 500, factor: float = 1.0) -> list[tuple[int, float]]:
    """Steps at a pace of `minutes_per_500`, with a slow step 0 as a real run has."""
    seconds = minutes_per_500 * 60 / 500 * factor
    return [(0, seconds * 8), *((n, seconds) for n in range(1, steps))]


def test_table4_is_the_papers() -> None:
    rows = {(r.model, r.nodes): r.minutes for r in TABLE4}
    assert rows == {
        ("llama2-7b", 2): {1: 61, 2: 63},
        ("llama2-7b", 4): {1: 32, 2: 35},
        ("llama2-7b", 6): {1: 22, 2: 25},
        ("llama2-70b", 6): {1: 230, 2: 244},
    }


def test_efficiency_per_doubling_from_table4() -> None:
    assert efficiency_per_doubling(1)[0] == pytest.approx(0.9515, abs=1e-4)
    assert efficiency_per_doubling(2)[0] == pytest.approx(0.8958, abs=1e-4)


@pytest.mark.parametrize(("config", "four_nodes"), [(1, 32), (2, 35)])
def test_the_efficiency_predicts_the_four_node_rows(config: int, four_nodes: float) -> None:
    efficiency, _ = efficiency_per_doubling(config)
    two_nodes = 61 if config == 1 else 63
    assert two_nodes / 2 / efficiency == pytest.approx(four_nodes, abs=0.5)


def test_expected_minutes_measured_and_scaled() -> None:
    exact = expected_minutes("llama2-70b", 6, 2)
    assert exact is not None and exact.measured and exact.minutes == 244
    scaled = expected_minutes("llama2-7b", 3, 1)
    assert scaled is not None and not scaled.measured
    # nearest measured point is 4 nodes (log distance 0.42 < 0.58 to 2 nodes)
    assert scaled.minutes == pytest.approx(32 * 4 / 3 / 0.9515 ** (-0.415), rel=1e-3)
    assert "from Table 4's 32 min on 4 nodes" in scaled.basis
    assert expected_minutes("llama2-13b", 6, 1) is None


def test_expectation_notes_a_batch_nemo_cannot_split() -> None:
    expectation = expected_minutes("llama2-7b", 8, 1)
    assert expectation is not None
    assert "not a multiple of DP=32" in expectation.notes[0]


def test_step_stats_skips_warmup_by_global_step() -> None:
    stats = step_stats([(n, 9.0 if n < 10 else 2.0 + (n % 3) / 10) for n in range(40)])
    assert stats is not None
    assert stats.skipped == 10 and stats.steps == 30
    assert stats.median == pytest.approx(2.1)
    assert stats.p10 == pytest.approx(2.0) and stats.p90 == pytest.approx(2.2)
    assert stats.minutes_per_500 == pytest.approx(2.1 * 500 / 60)


def test_step_stats_uses_warmup_steps_when_there_is_nothing_else() -> None:
    stats = step_stats([(3, 1.0), (4, 3.0)])
    assert stats is not None and stats.warmup_only and stats.median == 2.0
    assert step_stats([]) is None


@pytest.mark.parametrize(
    ("model", "nodes", "config", "minutes"),
    [("llama2-7b", 2, 1, 61), ("llama2-7b", 6, 2, 25), ("llama2-70b", 6, 1, 230)],
)
def test_judge_passes_at_the_papers_pace(
    model: str, nodes: int, config: int, minutes: float
) -> None:
    verdict = judge(paced(minutes), model, nodes, config)
    assert verdict.ok is True, verdict.text
    assert verdict.text.endswith(": pass")


def test_judge_fails_20_percent_slower_and_says_why() -> None:
    verdict = judge(paced(61, factor=1.2), "llama2-7b", 2, 1)
    assert verdict.ok is False
    assert "73.2 min per 500 steps" in verdict.text
    assert "20.0% slower than expected, beyond the +10% tolerance" in verdict.text
    assert "Table 4: 61 min on 2 nodes" in verdict.text and "limit 67.1 min" in verdict.text


def test_judge_scales_node_counts_the_paper_did_not_run() -> None:
    verdict = judge(paced(230 * 6 / 8 / 0.9515**0.415), "llama2-70b", 8, 1)
    assert verdict.ok is True
    assert "scaled from Table 4's 230 min on 6 nodes to 8 nodes" in verdict.text
    assert "95.2% efficiency per doubling" in verdict.text
    slow = judge(paced(230 * 6 / 8 / 0.9515**0.415, factor=1.2), "llama2-70b", 8, 1)
    assert slow.ok is False


def test_judge_faster_passes_and_no_times_fail() -> None:
    assert judge(paced(40), "llama2-7b", 2, 1).ok is True
    empty = judge([], "llama2-7b", 2, 1)
    assert empty.ok is False and "no step times" in empty.text
    unknown = judge(paced(40), "llama2-13b", 2, 1)
    assert unknown.ok is None and "not judged" in unknown.text


def test_stats_from_a_real_log() -> None:
    log = parse_nemo_log(
        (FIXTURES / "nemo_ptl_progress_glued_redraws_ckpt_noise_skypilot_rclone.txt").read_text()
    )
    stats = step_stats((s.global_step, s.step_time_s) for s in log.steps if s.step_time_s)
    assert stats is not None
    # steps 4-9 are warm-up; 10-14 read 4.58, 4.56, 4.57, 4.56, 4.57 s
    assert (stats.skipped, stats.steps) == (6, 5)
    assert stats.median == pytest.approx(4.57)
