"""Checkpoint arithmetic, reproducing the paper's 175B figures."""

from __future__ import annotations

import pytest

from trainbed.sizing.checkpoint import checkpoint, checkpoint_bytes_per_param, save_and_restore
from trainbed.sizing.memory import GB, PRECISIONS, Layout
from trainbed.sizing.models import known_model

BF16 = PRECISIONS["bf16"]
TB = 1e12


def test_paper_175b_tp8_pp8_is_64_files_of_about_40_gb() -> None:
    ckpt = checkpoint(175e9, BF16, "adam", tp=8, pp=8)
    assert ckpt.files == 64
    assert ckpt.bytes_per_param == 14
    assert ckpt.file_bytes == pytest.approx(38.28 * GB, rel=1e-3)
    assert ckpt.file_bytes == pytest.approx(40 * GB, rel=0.05)  # the paper's "40GB"
    assert ckpt.total_bytes == pytest.approx(2.4 * TB, rel=0.03)  # the paper's "2.4TB"


def test_175b_from_its_shape_gives_the_same_figures() -> None:
    ckpt = checkpoint(known_model("gpt3-175b").params, BF16, "adam", tp=8, pp=8)
    assert ckpt.file_bytes == pytest.approx(40 * GB, rel=0.05)


def test_paper_175b_model_is_350_gb_at_fp16() -> None:
    ckpt = checkpoint(175e9, PRECISIONS["fp16"], "adam", tp=1, pp=1, weights_only=True)
    assert ckpt.total_bytes == 350 * GB


def test_bytes_per_param() -> None:
    assert checkpoint_bytes_per_param(BF16, "adam") == 14
    assert checkpoint_bytes_per_param(PRECISIONS["fp32"], "adam") == 12
    assert checkpoint_bytes_per_param(BF16, "adam", weights_only=True) == 2


def test_save_and_restore_bandwidth() -> None:
    ckpt = checkpoint(175e9, BF16, "adam", tp=8, pp=8)
    load = save_and_restore(ckpt, Layout(8, 8, 2), seconds=300)
    assert load.writers == 64 and load.readers == 128 and load.files_read_at_once == 64
    assert load.write_bytes_per_s == pytest.approx(2.45 * TB / 300)
    assert load.write_bytes_per_s_per_rank == pytest.approx(38.28 * GB / 300, rel=1e-3)
    assert load.read_bytes == pytest.approx(2 * 2.45 * TB)
    assert load.read_bytes_per_s == pytest.approx(2 * 2.45 * TB / 300)
