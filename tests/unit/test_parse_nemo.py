"""parse_nemo_log against real NeMo log excerpts (tests/fixtures/real/nemo*.txt).

Expected values are read off the fixture files by eye, not copied from the parser's output.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainbed.parse.nemo import parse_nemo_log

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"
RCLONE = "nemo_ptl_progress_glued_redraws_ckpt_noise_skypilot_rclone.txt"
GCSFUSE = "nemo_ptl_progress_ckpt_every_5_steps_skypilot_gcsfuse.txt"
DGXC_70B = "nemo_ptl_progress_grep_llama31_70b_h100_dgxc.txt"
NAN_7957 = "nemo_ptl_progress_val_ckpt_nan_loss_issue7957.txt"
EMPTY_11900 = "nemo_ptl_progress_empty_metrics_issue11900.txt"
NO_TIMING_55 = "nemo_ptl_progress_no_step_timing_launcher_issue55.txt"
NEMO2 = "nemo2_training_epoch_iteration_bionemo_pr740.txt"


def read(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


def times(name: str) -> dict[int, float | None]:
    return {s.global_step: s.step_time_s for s in parse_nemo_log(read(name)).steps}


def test_glued_redraws_collapse_to_one_step_each() -> None:
    log = parse_nemo_log(read(RCLONE))
    assert [s.global_step for s in log.steps] == list(range(4, 15))
    assert times(RCLONE) == {
        4: 4.56, 5: 4.58, 6: 4.56, 7: 4.56, 8: 4.56, 9: 4.58,
        10: 4.58, 11: 4.56, 12: 4.57, 13: 4.56, 14: 4.57,
    }  # fmt: skip
    by_step = {s.global_step: s for s in log.steps}
    assert by_step[11].loss == 10.9 and by_step[14].loss == 10.6
    assert by_step[14].consumed_samples == 2880.0
    assert log.records > len(log.steps)  # redraws were read, then merged


def test_cut_off_value_loses_to_a_complete_redraw_of_the_same_step() -> None:
    # step 10: "train_step_timing in s=4.58Epoch 0: ..." first, "in s=4.580, val_loss" later
    by_step = {s.global_step: s for s in parse_nemo_log(read(RCLONE)).steps}
    assert by_step[10].step_time_s == 4.58 and not by_step[10].truncated
    # steps 5-7 appear only glued to the next redraw ("in s=4.580(task, pid=6679) Epoch 0: ...")
    assert [by_step[n].truncated for n in (5, 6, 7)] == [True, True, True]
    assert any("cut-off" in w and "5-7" in w for w in parse_nemo_log(read(RCLONE)).warnings)


def test_checkpoint_noise_and_sparse_steps() -> None:
    log = parse_nemo_log(read(GCSFUSE))
    assert times(GCSFUSE) == {4: 10.40, 9: 10.90, 14: 8.440}
    assert any("8 step(s) between 4 and 14 not in the log" in w for w in log.warnings)


def test_grep_line_from_an_h100_70b_run() -> None:
    (step,) = parse_nemo_log(read(DGXC_70B)).steps
    assert (step.global_step, step.step_time_s, step.loss) == (99, 11.20, 6.370)
    assert step.consumed_samples == 12800.0


def test_nan_loss_and_exponent_step() -> None:
    log = parse_nemo_log(read(NAN_7957))
    (step,) = log.steps
    assert step.global_step == 9000 and step.step_time_s == 0.615
    assert step.loss is not None and math.isnan(step.loss)
    assert step.consumed_samples == 630000.0
    assert step.as_dict()["loss_is_nan"] is True and step.as_dict()["loss"] is None
    assert any("NaN at step(s) 9000" in w for w in log.warnings)


def test_empty_metric_values() -> None:
    log = parse_nemo_log(read(EMPTY_11900))
    assert log.steps == ()
    assert log.warnings == ("progress records found, but none with a global_step value",)


def test_older_nemo_without_step_timing() -> None:
    log = parse_nemo_log(read(NO_TIMING_55))
    (step,) = log.steps
    assert step.global_step == 794 and step.step_time_s is None and step.loss == 3.090
    assert log.step_times == ()
    assert "without train_step_timing" in log.warnings[0]


def test_nemo2_progress_printer_lines() -> None:
    assert times(NEMO2) == {
        120: 0.03146, 121: 0.03163, 122: 0.03215, 123: 0.03157, 124: 0.0317, 125: 0.03147,
    }  # fmt: skip
    assert parse_nemo_log(read(NEMO2)).warnings == ()


# --- transformations of the real lines ------------------------------------------------------------


def test_carriage_return_redraws_with_srun_prefixes() -> None:
    lines = read(NEMO2).splitlines()
    text = "\r".join(f"0: {line}" for line in lines) + "\r" + "\n".join(lines) + "\n"
    assert times(NEMO2) == {s.global_step: s.step_time_s for s in parse_nemo_log(text).steps}


def test_crlf_and_repeated_lines() -> None:
    text = read(DGXC_70B).replace("\n", "\r\n") * 3
    log = parse_nemo_log(text)
    assert len(log.steps) == 1 and log.records == 3


def test_no_progress_records() -> None:
    assert parse_nemo_log("").steps == ()
    assert "no NeMo progress records" in parse_nemo_log("hello\nworld\n").warnings[0]


@settings(max_examples=200)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("Epoch 0:Training,|=.e+-5nan_stepglobal\r\n ")), max_size=300
    )
)
def test_never_raises(text: str) -> None:
    parse_nemo_log(text)


@settings(max_examples=60)
@given(data=st.data())
@pytest.mark.parametrize("name", [RCLONE, GCSFUSE, NEMO2, NAN_7957])
def test_never_raises_on_cut_fixtures(name: str, data: st.DataObject) -> None:
    text = read(name)
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    parse_nemo_log(text[start:end])
