"""`trainbed plan` as a user runs it."""

from __future__ import annotations

import json

from click.testing import CliRunner

from tests.conftest import PROD_YAML
from trainbed.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["plan", str(PROD_YAML), *args])
    return result.exit_code, result.stdout, result.stderr


def test_prod_llama2_70b_says_what_fits_and_what_a_checkpoint_costs() -> None:
    code, out, err = run("--model", "llama2-70b")
    assert code == 0, err
    assert "6 compute node(s) × 8 NVIDIA H100 80GB HBM3" in out
    assert "fit: TP=8 PP=1, TP=4 PP=2 (tight), TP=8 PP=2, TP=4 PP=4, TP=2 PP=8 (tight)" in out
    assert "smallest that fits: TP=8 PP=1 (8 GPU(s) per model replica, DP=6" in out
    assert "paper (Table 3) used TP=4 PP=4: fits here (61.6 GB)" in out
    assert (
        "checkpoint at TP=4 PP=4 (the paper's Table 3 layout): 16 files × 60.4 GB = 965.7 GB" in out
    )
    assert "export 'checkpoints' (nfs.xe9680-validation.example.com:/ifs/data/checkpoints" in out
    assert "3.22 GB/s from 16 single-threaded writers, 201 MB/s each" in out
    assert "restore: 48 ranks read at once (16 distinct files, each read by DP=3 replicas)" in out


def test_one_layout_and_json() -> None:
    code, out, _ = run("--model", "llama2-7b", "--tp", "2", "--pp", "1", "--json")
    assert code == 0
    plan = json.loads(out)
    (layout,) = plan["layouts"]
    assert (layout["tp"], layout["pp"], layout["dp"], layout["fits"]) == (2, 1, 24, True)
    assert plan["paper_arithmetic"]["weights_bytes"] == plan["model"]["params"] * 2
    assert plan["checkpoint"]["files"] == 2 and plan["checkpoint"]["bytes_per_param"] == 14
    assert plan["checkpoint_export"]["mount_point"] == "/mnt/checkpoints"


def test_parameter_count_only() -> None:
    code, out, _ = run("--params", "7B", "--precision", "fp32", "--checkpoint-minutes", "2")
    assert code == 0
    assert "7.0 B params × 4 B = 28 GB of weights" in out  # the paper's 7B at FP32
    assert "activations unknown without a shape" in out
    assert "12 B/param" in out and "save within 2 min" in out


def test_custom_shape() -> None:
    code, out, _ = run(
        "--layers", "32", "--hidden", "4096", "--heads", "32", "--ffn", "11008",
        "--vocab", "32000", "--seq-length", "4096",
    )  # fmt: skip
    assert code == 0
    assert "model custom: 6.74 B parameters" in out


def test_nothing_fits_exits_1() -> None:
    code, out, _ = run("--model", "gpt3-175b", "--tp", "1", "--pp", "1")
    assert code == 1
    assert "fit: none of these layouts fits" in out


def test_usage_errors_exit_2() -> None:
    assert run()[0] == 2
    assert run("--model", "llama2-7b", "--params", "7e9")[0] == 2
    assert run("--layers", "32")[0] == 2
    assert run("--model", "llama2-70b", "--tp", "3")[0] == 2
    assert run("--params", "lots")[0] == 2
