"""Memory per GPU: the paper's own figures, the precise accounting, layouts and the fit."""

from __future__ import annotations

import pytest

from trainbed.sizing.memory import (
    GB,
    PRECISIONS,
    Layout,
    bytes_per_param,
    gpu_memory,
    paper_adam_bytes,
    paper_weight_bytes,
    params_per_gpu,
    smallest_fit,
    valid_layouts,
)
from trainbed.sizing.models import custom_model, known_model

H100 = 81559 * 2**20  # inventory/prod.yaml's memory_mib
BF16 = PRECISIONS["bf16"]


# --- the paper's arithmetic ---------------------------------------------------------------------


def test_paper_7b_is_28_gb_at_fp32_and_14_gb_at_fp16() -> None:
    assert paper_weight_bytes(7e9, "fp32") == 28 * GB
    assert paper_weight_bytes(7e9, "fp16") == 14 * GB
    assert paper_weight_bytes(7e9, "bf16") == 14 * GB


def test_paper_175b_is_350_gb_at_fp16() -> None:
    assert paper_weight_bytes(175e9, "fp16") == 350 * GB


def test_paper_adam_keeps_two_more_values_per_parameter() -> None:
    assert paper_adam_bytes(7e9, "fp32") == 3 * 28 * GB


def test_precise_accounting_is_16_bytes_per_parameter() -> None:
    assert bytes_per_param(BF16, "adam") == {
        "weights": 2,
        "gradients": 2,
        "master": 4,
        "optimizer_states": 8,
    }
    assert sum(bytes_per_param(PRECISIONS["fp32"], "adam").values()) == 16
    assert sum(bytes_per_param(BF16, "sgd").values()) == 8


# --- layouts -----------------------------------------------------------------------------------


def layouts_70b_on(nodes: int) -> list[Layout]:
    return valid_layouts(nodes * 8, 8, known_model("llama2-70b").shape)


def test_layouts_follow_megatrons_rules() -> None:
    for lay in layouts_70b_on(6):
        assert 8 % lay.tp == 0 and 80 % lay.pp == 0 and lay.gpus == 48
    pairs = {(lay.tp, lay.pp) for lay in layouts_70b_on(6)}
    assert (4, 4) in pairs and (8, 2) in pairs
    assert (8, 6) not in pairs  # 80 layers do not split into 6 stages
    assert (8, 8) not in pairs  # 64 does not divide 48


def test_layouts_without_a_shape_only_need_to_divide_the_gpus() -> None:
    pairs = {(lay.tp, lay.pp) for lay in valid_layouts(48, 8, None)}
    assert (8, 6) in pairs and (3, 1) not in pairs  # TP must divide the node's 8 GPUs


# --- the fit -----------------------------------------------------------------------------------


def results_70b(distributed: bool = True) -> list:
    model = known_model("llama2-70b")
    return [
        gpu_memory(model, BF16, "adam", lay, H100, distributed_optimizer=distributed)
        for lay in layouts_70b_on(6)
    ]


def test_70b_on_six_nodes_fits_the_papers_tp4_pp4() -> None:
    fitting = {(r.layout.tp, r.layout.pp) for r in results_70b() if r.fits}
    assert (4, 4) in fitting
    assert (1, 1) not in fitting and (2, 1) not in fitting


def test_70b_smallest_fit_is_eight_gpus_per_replica() -> None:
    best = smallest_fit(results_70b())
    assert best is not None
    assert (best.layout.tp, best.layout.pp, best.layout.dp) == (8, 1, 6)


def test_70b_tp4_pp4_needs_the_distributed_optimizer() -> None:
    plain = {(r.layout.tp, r.layout.pp): r for r in results_70b(distributed=False)}
    assert not plain[(4, 4)].fits


def test_70b_tp4_pp4_by_hand() -> None:
    r = next(r for r in results_70b() if (r.layout.tp, r.layout.pp) == (4, 4))
    shape = known_model("llama2-70b").shape
    assert shape is not None
    # Busiest stage: 20 layers + the 32000×8192 embedding (or output layer + final norm), / TP 4.
    n = (20 * shape.layer_params() + 32000 * 8192 + 8192) / 4
    assert r.params_per_gpu == pytest.approx(n)
    assert r.weights == pytest.approx(2 * n) and r.gradients == pytest.approx(2 * n)
    assert r.optimizer == pytest.approx(12 * n / 3)  # sharded over DP=3
    assert r.activations == pytest.approx(34 * 4096 * 8192 * 80 / 4)
    assert r.total == pytest.approx(61.6 * GB, rel=1e-3)


def test_pipeline_one_holds_everything_split_by_tp() -> None:
    model = known_model("llama2-7b")
    assert params_per_gpu(model, 2, 1) == pytest.approx(model.params / 2)
    assert params_per_gpu(custom_model(7e9, None), 2, 4) == pytest.approx(7e9 / 8)


def test_smallest_fit_is_none_when_nothing_fits() -> None:
    model = known_model("gpt3-175b")
    r = gpu_memory(model, BF16, "adam", Layout(1, 1, 8), H100)
    assert not r.fits and smallest_fit([r]) is None


def test_tight_fit_is_flagged() -> None:
    r = next(r for r in results_70b() if (r.layout.tp, r.layout.pp) == (2, 8))
    assert r.fits and r.tight
