"""Model shapes, and the parameter count that follows from a shape.

Computed counts against the nominal sizes (see tests/unit/test_sizing_models.py):
Llama 2 7B 6.738 B (-3.7 % of "7 B"), 13B 13.016 B (+0.1 %), 70B 68.977 B (-1.5 %),
GPT-3 175B 174.6 B (-0.2 %). The Llama 2 counts equal the published ones (6,738,415,616 /
13,015,864,320 / 68,976,648,192), so the layer arithmetic below is exact for those models.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Shape:
    """A decoder-only transformer's shape.

    `gated_mlp`: SwiGLU (Llama: gate, up and down projections, three h×ffn matrices) instead of a
    plain two-matrix MLP (GPT). `biases` and `layernorm` (weight and bias, vs RMSNorm's weight only)
    are GPT-style; `learned_positions` adds a seq_length×hidden table; `tied_embeddings` shares the
    input embedding with the output layer.
    """

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    seq_length: int
    gated_mlp: bool = True
    biases: bool = False
    layernorm: bool = False
    learned_positions: bool = False
    tied_embeddings: bool = False

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def layer_params(self) -> int:
        """Parameters of one transformer layer."""
        h, kv = self.hidden, self.kv_heads * self.head_dim
        attention = 2 * h * h + 2 * h * kv  # Q and O are h×h; K and V shrink with GQA
        mlp = (3 if self.gated_mlp else 2) * h * self.ffn
        norms = 2 * h * (2 if self.layernorm else 1)
        biases = (h + 2 * kv + h + self.ffn + h) if self.biases else 0
        return attention + mlp + norms + biases

    def embedding_params(self) -> int:
        """Input embedding (+ learned positions) and, unless tied, the output layer."""
        table = self.vocab * self.hidden
        positions = self.seq_length * self.hidden if self.learned_positions else 0
        return table + positions + (0 if self.tied_embeddings else table)

    def final_norm_params(self) -> int:
        return self.hidden * (2 if self.layernorm else 1)

    def params(self) -> int:
        return (
            self.layers * self.layer_params() + self.embedding_params() + self.final_norm_params()
        )


@dataclass(frozen=True, slots=True)
class Model:
    """A model to size: a parameter count, and its shape when known."""

    name: str
    params: float
    shape: Shape | None = None
    nominal_params: float | None = None  # the size in the model's name, e.g. 7e9 for "7B"
    source: str = ""

    @property
    def seq_length(self) -> int | None:
        return self.shape.seq_length if self.shape else None


# Llama 2: Touvron et al., "Llama 2: Open Foundation and Fine-Tuned Chat Models" (2023), Table 1
# (context 4096, GQA for 70B) and the released configs (meta-llama/Llama-2-{7,13,70}b-hf
# config.json: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
# num_key_value_heads, vocab_size 32000). RMSNorm, SwiGLU, untied embeddings, no biases.
LLAMA2_7B = Shape(
    layers=32, hidden=4096, heads=32, kv_heads=32, ffn=11008, vocab=32000, seq_length=4096
)
LLAMA2_13B = Shape(
    layers=40, hidden=5120, heads=40, kv_heads=40, ffn=13824, vocab=32000, seq_length=4096
)
LLAMA2_70B = Shape(
    layers=80, hidden=8192, heads=64, kv_heads=8, ffn=28672, vocab=32000, seq_length=4096
)
# GPT-3 175B: Brown et al., "Language Models are Few-Shot Learners" (2020), Table 2.1 (96 layers,
# d_model 12288, 96 heads of 128, context 2048; FFN 4×d_model); GPT-2's BPE vocabulary of 50257;
# LayerNorm, biases, learned positions, tied embeddings.
GPT3_175B = Shape(
    layers=96,
    hidden=12288,
    heads=96,
    kv_heads=96,
    ffn=4 * 12288,
    vocab=50257,
    seq_length=2048,
    gated_mlp=False,
    biases=True,
    layernorm=True,
    learned_positions=True,
    tied_embeddings=True,
)

_KNOWN: dict[str, tuple[Shape, float, str]] = {
    "llama2-7b": (LLAMA2_7B, 7e9, "Llama 2 paper Table 1; meta-llama/Llama-2-7b-hf config.json"),
    "llama2-13b": (
        LLAMA2_13B,
        13e9,
        "Llama 2 paper Table 1; meta-llama/Llama-2-13b-hf config.json",
    ),
    "llama2-70b": (
        LLAMA2_70B,
        70e9,
        "Llama 2 paper Table 1; meta-llama/Llama-2-70b-hf config.json",
    ),
    "gpt3-175b": (GPT3_175B, 175e9, "GPT-3 paper (Brown et al. 2020) Table 2.1"),
}

MODEL_NAMES = tuple(_KNOWN)


def known_model(name: str) -> Model:
    """One of MODEL_NAMES, with its parameter count computed from its shape."""
    shape, nominal, source = _KNOWN[name]
    return Model(name, float(shape.params()), shape, nominal, source)


def custom_model(params: float | None, shape: Shape | None, name: str = "custom") -> Model:
    """A model from a parameter count, a shape, or both (the count wins for memory arithmetic)."""
    if params is None and shape is None:
        raise ValueError("give a parameter count, a shape, or both")
    count = params if params is not None else float(shape.params())  # type: ignore[union-attr]
    return Model(name, count, shape, params, "given")
