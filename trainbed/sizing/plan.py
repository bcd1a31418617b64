"""What a model needs of an inventory's compute nodes: every layout's memory per GPU, the smallest
that fits, and the checkpoint of the layout that is costed, with the storage bandwidth to save
and restore it in time. `trainbed plan` prints it; the storage probe judges its figures by it.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainbed.errors import TrainbedError
from trainbed.inventory.model import Inventory
from trainbed.sizing.checkpoint import Checkpoint, SaveLoad, checkpoint, save_and_restore
from trainbed.sizing.memory import (
    PRECISIONS,
    Allowance,
    GpuMemory,
    gpu_memory,
    smallest_fit,
    valid_layouts,
)
from trainbed.sizing.models import Model
from trainbed.sizing.training import TABLE3


class PlanError(TrainbedError):
    """The inventory cannot be sized as asked (no compute nodes, no GPU memory, no layout)."""


@dataclass(frozen=True, slots=True)
class Plan:
    model: Model
    nodes: int
    gpus_per_node: int
    gpu_memory_mib: int
    results: tuple[GpuMemory, ...]
    best: GpuMemory | None  # the smallest layout that fits
    costed: GpuMemory  # the layout whose checkpoint is costed
    why: str  # why that layout
    checkpoint: Checkpoint
    save_restore: SaveLoad


def _costed(
    model: Model,
    results: list[GpuMemory],
    best: GpuMemory | None,
    tp: int | None,
    pp: int | None,
) -> tuple[GpuMemory, str]:
    """The layout whose checkpoint is costed: the one asked for, the paper's, or the smallest fit."""
    if tp is not None and pp is not None:
        return results[0], "the layout asked for"
    paper = TABLE3.get(model.name)
    if paper:
        for r in results:
            if (r.layout.tp, r.layout.pp) == paper:
                return r, "the paper's Table 3 layout"
    if best:
        return best, "the smallest layout that fits"
    return results[0], "the first valid layout (none fits)"


def plan_model(
    inv: Inventory,
    model: Model,
    *,
    precision: str = "bf16",
    optimizer: str = "adam",
    distributed_optimizer: bool = True,
    tp: int | None = None,
    pp: int | None = None,
    micro_batch: int = 1,
    checkpoint_minutes: float = 5.0,
) -> Plan:
    """Size `model` on `inv`'s compute nodes (see `trainbed plan --help` for the arithmetic)."""
    nodes = len(inv.compute)
    if nodes == 0:
        raise PlanError("has no compute nodes")
    gpus_per_node = min(node.profile.gpus.count for node in inv.compute)
    mib = min(node.profile.gpus.memory_mib or 0 for node in inv.compute)
    if not mib:
        raise PlanError("compute profiles do not give the GPU memory_mib")
    prec = PRECISIONS[precision]
    layouts = [
        lay
        for lay in valid_layouts(nodes * gpus_per_node, gpus_per_node, model.shape)
        if (tp is None or lay.tp == tp) and (pp is None or lay.pp == pp)
    ]
    if not layouts:
        raise PlanError(
            f"no valid layout with TP={tp or 'any'} PP={pp or 'any'} on {nodes} node(s) × "
            f"{gpus_per_node} GPUs for {model.name}: TP must divide {gpus_per_node} "
            "(and the heads), TP × PP the GPU count, PP the layers"
        )
    allowance = Allowance(micro_batch=micro_batch)
    capacity = mib * 2**20
    results = [
        gpu_memory(model, prec, optimizer, lay, capacity, distributed_optimizer, allowance)
        for lay in layouts
    ]
    best = smallest_fit(results)
    costed, why = _costed(model, results, best, tp, pp)
    ckpt = checkpoint(model.params, prec, optimizer, costed.layout.tp, costed.layout.pp)
    load = save_and_restore(ckpt, costed.layout, checkpoint_minutes * 60)
    return Plan(model, nodes, gpus_per_node, mib, tuple(results), best, costed, why, ckpt, load)
