"""Parameter counts computed from the model shapes, against published and nominal sizes."""

from __future__ import annotations

import pytest

from trainbed.sizing.models import LLAMA2_7B, MODEL_NAMES, custom_model, known_model

# Published parameter counts of the released Llama 2 checkpoints.
PUBLISHED = {"llama2-7b": 6_738_415_616, "llama2-13b": 13_015_864_320, "llama2-70b": 68_976_648_192}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_llama2_counts_equal_the_published_ones(name: str) -> None:
    assert known_model(name).params == PUBLISHED[name]


@pytest.mark.parametrize(
    ("name", "within"),
    [("llama2-7b", 0.04), ("llama2-13b", 0.002), ("llama2-70b", 0.015), ("gpt3-175b", 0.003)],
)
def test_counts_land_near_the_nominal_sizes(name: str, within: float) -> None:
    model = known_model(name)
    assert model.nominal_params is not None
    assert abs(model.params / model.nominal_params - 1) < within


def test_gpt3_175b_count() -> None:
    # 96 × 12·h² (+ biases, norms) + tied 50257×12288 embedding + 2048×12288 positions.
    assert known_model("gpt3-175b").params == pytest.approx(174.6e9, rel=1e-3)


def test_gqa_shrinks_key_and_value_projections() -> None:
    shape = known_model("llama2-70b").shape
    assert shape is not None
    h = shape.hidden
    assert shape.layer_params() == 2 * h * h + 2 * h * 1024 + 3 * h * 28672 + 2 * h


def test_every_known_model_has_a_shape_and_a_source() -> None:
    for name in MODEL_NAMES:
        model = known_model(name)
        assert model.shape is not None and model.source


def test_custom_model_from_a_count_a_shape_or_both() -> None:
    assert custom_model(7e9, None).params == 7e9
    assert custom_model(None, LLAMA2_7B).params == PUBLISHED["llama2-7b"]
    both = custom_model(7e9, LLAMA2_7B)
    assert both.params == 7e9 and both.shape is LLAMA2_7B
    with pytest.raises(ValueError):
        custom_model(None, None)
