"""GPU memory per rank for training a model under tensor × pipeline (× data) parallelism.

Two accountings:

- The paper's: parameters × 4 bytes at FP32 or × 2 at FP16/BF16 (`paper_weight_bytes`), and Adam
  "keeps two additional values for each parameter" (`paper_adam_bytes`: three values per parameter
  at the same precision). It leaves out gradients, the FP32 master copy that mixed precision keeps,
  that Adam's moments are FP32 whatever the weights are, and activations.
- The precise one used for the fit (`gpu_memory`), per parameter: weights, gradients, the FP32 master
  copy (mixed precision only) and Adam's FP32 m and v. For BF16/FP16 that is 2 + 2 + 4 + 4 + 4 = 16 B
  (Rajbhandari et al., ZeRO, 2020, §3.1); for FP32 4 + 4 + 4 + 4 = 16 B. With the distributed
  optimizer (ZeRO stage 1, Megatron's `use_distributed_optimizer`, NeMo's `distributed_fused_adam`,
  which NeMo's Llama 2 recipes use) the master copy and m, v are sharded over the DP ranks.
  Megatron keeps BF16 gradients in an FP32 buffer by default (18 B/param); that is not modelled.

The allowance on top, stated so that a fit can be checked by hand:

- activations of the first pipeline stage, which holds `pp` micro-batches of `layers/pp` layers in
  flight under 1F1B, i.e. all `layers`: 34·s·b·h bytes per layer / TP (Korthikanti et al., "Reducing
  Activation Recomputation in Large Transformer Models", 2022, with sequence parallelism and selective
  recomputation). The 34 is derived for a GPT layer (4h MLP); SwiGLU/GQA models differ by some tens of
  percent, which the overhead below absorbs only in part: treat a fit within 10 % of capacity as tight.
- a flat `overhead_bytes` (default 4 GB) for the CUDA context, NCCL buffers, library workspaces and
  allocator fragmentation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trainbed.sizing.models import Model, Shape

GB = 1e9  # reports are in decimal GB, like the paper's "7 × 4 = 28 GB"


@dataclass(frozen=True, slots=True)
class Precision:
    """Bytes per parameter that one training precision keeps."""

    name: str
    weight_bytes: int
    grad_bytes: int
    master_bytes: int  # FP32 master copy of the weights, kept only under mixed precision
    description: str


PRECISIONS: dict[str, Precision] = {
    "fp32": Precision("fp32", 4, 4, 0, "FP32 weights and gradients"),
    "bf16": Precision("bf16", 2, 2, 4, "BF16 mixed precision with FP32 master weights"),
    "fp16": Precision("fp16", 2, 2, 4, "FP16 mixed precision with FP32 master weights"),
}

# Optimizer state values per parameter, each FP32. Adam: first and second moment (m, v).
OPTIMIZER_STATES: dict[str, int] = {"adam": 2, "sgd": 0}
STATE_BYTES = 4


@dataclass(frozen=True, slots=True)
class Layout:
    """A parallel layout: TP × PP GPUs hold one model replica, DP replicas train side by side."""

    tp: int
    pp: int
    dp: int

    @property
    def model_parallel(self) -> int:
        return self.tp * self.pp

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp


@dataclass(frozen=True, slots=True)
class Allowance:
    """What the fit reserves beyond weights, gradients and optimizer state."""

    micro_batch: int = 1
    activation_factor: float = 34.0  # bytes per token per hidden unit per layer, before / TP
    overhead_bytes: float = 4 * GB


@dataclass(frozen=True, slots=True)
class GpuMemory:
    """Bytes one GPU of `layout` needs, by component, against its capacity."""

    layout: Layout
    params_per_gpu: float
    weights: float
    gradients: float
    optimizer: float  # FP32 master copy + optimizer states (after DP sharding, if any)
    activations: float | None  # None when the model's shape is unknown
    overhead: float
    capacity: float

    @property
    def total(self) -> float:
        return (
            self.weights + self.gradients + self.optimizer + (self.activations or 0) + self.overhead
        )

    @property
    def fits(self) -> bool:
        return self.total <= self.capacity

    @property
    def tight(self) -> bool:
        """Fits, but within 10 % of capacity: the activation estimate is not that precise."""
        return self.fits and self.total > 0.9 * self.capacity


def paper_weight_bytes(params: float, precision: str) -> float:
    """The paper's arithmetic: parameters × 4 bytes at FP32, × 2 at FP16/BF16."""
    return params * (4 if precision == "fp32" else 2)


def paper_adam_bytes(params: float, precision: str) -> float:
    """The paper's Adam: two more values per parameter, at the weights' precision (3× weights)."""
    return 3 * paper_weight_bytes(params, precision)


def bytes_per_param(precision: Precision, optimizer: str) -> dict[str, int]:
    """Per-parameter bytes by component, unsharded."""
    return {
        "weights": precision.weight_bytes,
        "gradients": precision.grad_bytes,
        "master": precision.master_bytes,
        "optimizer_states": OPTIMIZER_STATES[optimizer] * STATE_BYTES,
    }


def params_per_gpu(model: Model, tp: int, pp: int) -> float:
    """Parameters on the busiest GPU: the pipeline stage with the most layers plus an embedding.

    Without a shape, the parameters are split evenly. With one, each stage gets ceil(layers/pp)
    layers; the first stage also holds the input embedding, the last the output layer (or, when
    tied and pp > 1, a copy of the embedding, as Megatron does). Norms are counted as if split by TP.
    """
    shape = model.shape
    if shape is None:
        return model.params / (tp * pp)
    layers = math.ceil(shape.layers / pp) * shape.layer_params()
    table = shape.vocab * shape.hidden
    first = shape.embedding_params() - (0 if shape.tied_embeddings else table)
    last = table + shape.final_norm_params()
    # One stage holds both ends when pp == 1; otherwise the heavier end bounds the busiest GPU.
    extra = (
        first + last - (0 if not shape.tied_embeddings else table) if pp == 1 else max(first, last)
    )
    # The count from the shape can differ from model.params when both were given: scale to it.
    scale = model.params / shape.params()
    return (layers + extra) * scale / tp


def activation_bytes(shape: Shape, tp: int, allowance: Allowance) -> float:
    """Activations the first pipeline stage keeps (see the module docstring)."""
    per_layer = (
        allowance.activation_factor * shape.seq_length * allowance.micro_batch * shape.hidden
    )
    return per_layer * shape.layers / tp


def gpu_memory(
    model: Model,
    precision: Precision,
    optimizer: str,
    layout: Layout,
    capacity: float,
    distributed_optimizer: bool = True,
    allowance: Allowance | None = None,
) -> GpuMemory:
    """Memory of the busiest GPU for `model` trained under `layout`."""
    allowance = allowance or Allowance()
    per_param = bytes_per_param(precision, optimizer)
    n = params_per_gpu(model, layout.tp, layout.pp)
    optimizer_bytes = n * (per_param["master"] + per_param["optimizer_states"])
    if distributed_optimizer:
        optimizer_bytes /= layout.dp
    activations = (
        activation_bytes(model.shape, layout.tp, allowance) if model.shape is not None else None
    )
    return GpuMemory(
        layout=layout,
        params_per_gpu=n,
        weights=n * per_param["weights"],
        gradients=n * per_param["gradients"],
        optimizer=optimizer_bytes,
        activations=activations,
        overhead=allowance.overhead_bytes,
        capacity=capacity,
    )


def valid_layouts(gpus: int, gpus_per_node: int, shape: Shape | None) -> list[Layout]:
    """Every TP × PP that `gpus` GPUs can run, DP taking the rest.

    TP divides the GPUs of a node (a TP group never leaves NVLink), TP × PP divides the GPU count; with
    a shape, TP also divides the attention and KV heads and PP divides the layers (Megatron's rules).
    """
    layouts = []
    for tp in range(1, gpus_per_node + 1):
        if gpus_per_node % tp or gpus % tp:
            continue
        if shape is not None and (shape.heads % tp or shape.kv_heads % tp):
            continue
        for pp in range(1, gpus // tp + 1):
            if gpus % (tp * pp):
                continue
            if shape is not None and shape.layers % pp:
                continue
            layouts.append(Layout(tp, pp, gpus // (tp * pp)))
    return sorted(layouts, key=lambda lay: (lay.model_parallel, -lay.tp))


def smallest_fit(results: list[GpuMemory]) -> GpuMemory | None:
    """The fitting layout with the fewest GPUs per model replica (then least memory, then larger TP)."""
    fitting = [r for r in results if r.fits]
    if not fitting:
        return None
    return min(fitting, key=lambda r: (r.layout.model_parallel, r.total, -r.layout.tp))
