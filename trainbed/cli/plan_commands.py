"""`trainbed plan`: memory per GPU and checkpoint cost of training a model on the inventory's nodes.

Exit status: 0 when some layout fits, 1 when none does, 2 on a usage or inventory error.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any

import click

from trainbed.cli.common import load_or_exit
from trainbed.inventory import Inventory
from trainbed.sizing.checkpoint import Checkpoint, SaveLoad
from trainbed.sizing.memory import (
    GB,
    PRECISIONS,
    Allowance,
    GpuMemory,
    Layout,
    Precision,
    bytes_per_param,
    paper_adam_bytes,
    paper_weight_bytes,
)
from trainbed.sizing.models import MODEL_NAMES, Model, Shape, custom_model, known_model
from trainbed.sizing.plan import PlanError, plan_model
from trainbed.sizing.training import TABLE3

_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}


class _Count(click.ParamType):
    """A count like 70e9, 70000000000, 70B or 6.7b."""

    name = "count"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip().replace("_", "").replace(",", "")
        scale = _SUFFIXES.get(text[-1:].lower(), 1.0)
        if scale != 1.0:
            text = text[:-1]
        try:
            count = float(text) * scale
        except ValueError:
            self.fail(f"{value!r} is not a count (e.g. 70e9 or 70B)", param, ctx)
        if count <= 0:
            self.fail("must be positive", param, ctx)
        return count


@click.command("plan")
@click.argument("inventory", type=click.Path(dir_okay=False, path_type=str))
@click.option("--model", "model_name", type=click.Choice(MODEL_NAMES), help="A known model.")
@click.option("--params", type=_Count(), help="Parameter count (70e9, 70B), for another model.")
@click.option("--layers", type=click.IntRange(1), help="Shape of another model: layers.")
@click.option("--hidden", type=click.IntRange(1), help="Hidden size.")
@click.option("--heads", type=click.IntRange(1), help="Attention heads.")
@click.option("--kv-heads", type=click.IntRange(1), help="KV heads (GQA); default: --heads.")
@click.option("--ffn", type=click.IntRange(1), help="FFN (intermediate) size.")
@click.option("--vocab", type=click.IntRange(1), help="Vocabulary size.")
@click.option("--seq-length", type=click.IntRange(1), help="Sequence length.")
@click.option(
    "--mlp",
    type=click.Choice(["swiglu", "gelu"]),
    default="swiglu",
    show_default=True,
    help="Llama-style gated MLP (3 matrices) or GPT-style (2).",
)
@click.option("--precision", type=click.Choice(list(PRECISIONS)), default="bf16", show_default=True)
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default="adam", show_default=True)
@click.option(
    "--distributed-optimizer/--no-distributed-optimizer",
    default=True,
    show_default=True,
    help="Shard FP32 master weights and optimizer state over DP (NeMo's distributed_fused_adam).",
)
@click.option("--tp", type=click.IntRange(1), help="Only layouts with this tensor parallelism.")
@click.option("--pp", type=click.IntRange(1), help="Only layouts with this pipeline parallelism.")
@click.option("--micro-batch", type=click.IntRange(1), default=1, show_default=True)
@click.option(
    "--checkpoint-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Target time to save (and to restore) one checkpoint.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(
    inventory: str,
    model_name: str | None,
    params: float | None,
    layers: int | None,
    hidden: int | None,
    heads: int | None,
    kv_heads: int | None,
    ffn: int | None,
    vocab: int | None,
    seq_length: int | None,
    mlp: str,
    precision: str,
    optimizer: str,
    distributed_optimizer: bool,
    tp: int | None,
    pp: int | None,
    micro_batch: int,
    checkpoint_minutes: float,
    as_json: bool,
) -> None:
    """Size training MODEL on INVENTORY's compute nodes with the paper's arithmetic, generalised.

    For every TP × PP that the nodes can run (or the one given): memory per GPU for weights,
    gradients, optimizer state and an activation/overhead allowance, whether it fits the GPU, the
    smallest layout that fits, and what a checkpoint costs the checkpoint export.
    """
    shape_args = (layers, hidden, heads, kv_heads, ffn, vocab, seq_length)
    model = _model(model_name, params, shape_args, mlp)
    inv = load_or_exit(inventory)
    try:
        sized = plan_model(
            inv,
            model,
            precision=precision,
            optimizer=optimizer,
            distributed_optimizer=distributed_optimizer,
            tp=tp,
            pp=pp,
            micro_batch=micro_batch,
            checkpoint_minutes=checkpoint_minutes,
        )
    except PlanError as err:
        raise click.UsageError(f"{inventory}: {err}") from None
    nodes, gpus_per_node, mib = sized.nodes, sized.gpus_per_node, sized.gpu_memory_mib
    prec = PRECISIONS[precision]
    allowance = Allowance(micro_batch=micro_batch)
    results, best = list(sized.results), sized.best
    chosen, why = sized.costed, sized.why
    ckpt, load = sized.checkpoint, sized.save_restore
    export = _checkpoint_export(inv)
    context = {
        "inventory": inventory,
        "nodes": nodes,
        "gpus_per_node": gpus_per_node,
        "gpu_model": inv.compute[0].profile.gpus.model,
        "gpu_memory_mib": mib,
        "network_config": inv.networks.infiniband.network_config,
        "checkpoint_export": export,
    }
    if as_json:
        payload = _payload(context, model, prec, optimizer, distributed_optimizer, allowance)
        payload.update(
            layouts=[_memory_dict(r) for r in results],
            smallest_fit=_layout_dict(best.layout) if best else None,
            checkpoint={"layout": _layout_dict(chosen.layout), "why": why, **asdict(ckpt)},
            save_restore=asdict(load),
        )
        click.echo(json.dumps(payload, indent=2))
    else:
        lines = _header(context, model, prec, optimizer, distributed_optimizer, allowance)
        lines += _table(results, ckpt_per_param=ckpt.bytes_per_param, params=model.params)
        lines += _fit_summary(model, results, best)
        lines += _checkpoint_lines(ckpt, load, chosen.layout, why, export)
        for line in lines:
            click.echo(line)
    sys.exit(0 if best else 1)


COMMANDS = [plan]


def _model(
    name: str | None, params: float | None, shape_args: tuple[int | None, ...], mlp: str
) -> Model:
    layers, hidden, heads, kv_heads, ffn, vocab, seq_length = shape_args
    given_shape = any(v is not None for v in shape_args)
    if name and (params is not None or given_shape):
        raise click.UsageError("--model excludes --params and the shape options")
    if name:
        return known_model(name)
    if params is None and not given_shape:
        raise click.UsageError("give --model, or --params and/or a shape (--layers --hidden ...)")
    shape = None
    if given_shape:
        required = {"--layers": layers, "--hidden": hidden, "--heads": heads, "--ffn": ffn}
        required |= {"--vocab": vocab, "--seq-length": seq_length}
        missing = [flag for flag, value in required.items() if value is None]
        if missing:
            raise click.UsageError(f"a shape needs {', '.join(missing)} as well")
        assert layers and hidden and heads and ffn and vocab and seq_length
        if hidden % heads:
            raise click.UsageError("--hidden must be a multiple of --heads")
        kv = kv_heads or heads
        if heads % kv:
            raise click.UsageError("--heads must be a multiple of --kv-heads")
        shape = Shape(layers, hidden, heads, kv, ffn, vocab, seq_length, gated_mlp=mlp == "swiglu")
    return custom_model(params, shape)


def _checkpoint_export(inv: Inventory) -> dict[str, str] | None:
    export = next((e for e in inv.storage.exports if e.purpose == "checkpoints"), None)
    if export is None:
        return None
    mount = next((m for m in inv.mounts if m.export.name == export.name), None)
    return {
        "name": export.name,
        "path": export.path,
        "server": inv.storage.smartconnect_zone,
        "mount_point": mount.mount_point if mount else "",
    }


def _gb(value: float | None) -> str:
    return "-" if value is None else f"{value / GB:.1f}"


def _header(
    ctx: dict[str, Any],
    model: Model,
    prec: Precision,
    optimizer: str,
    distributed: bool,
    allowance: Allowance,
) -> list[str]:
    lines = [
        f"{ctx['inventory']}: {ctx['nodes']} compute node(s) × {ctx['gpus_per_node']} "
        f"{ctx['gpu_model']} ({ctx['gpu_memory_mib']} MiB = {ctx['gpu_memory_mib'] * 2**20 / GB:.1f} "
        f"GB each), network configuration {ctx['network_config']}",
        _model_line(model),
    ]
    per = bytes_per_param(prec, optimizer)
    parts = [f"{per['weights']} B weights", f"{per['gradients']} B gradients"]
    if per["master"]:
        parts.append(f"{per['master']} B FP32 master")
    if per["optimizer_states"]:
        parts.append(f"{per['optimizer_states']} B {optimizer} m+v (FP32)")
    sharding = (
        "master and optimizer state sharded over DP (distributed optimizer)"
        if distributed
        else "nothing sharded over DP"
    )
    lines.append(
        f"precision: {prec.description}, {optimizer}: {' + '.join(parts)} = {sum(per.values())} "
        f"B/param; {sharding}"
    )
    lines.append(
        "paper's arithmetic for comparison: "
        f"{model.params / 1e9:.1f} B params × {4 if prec.name == 'fp32' else 2} B = "
        f"{paper_weight_bytes(model.params, prec.name) / GB:.0f} GB of weights, "
        f"{paper_adam_bytes(model.params, prec.name) / GB:.0f} GB with Adam's two more values "
        f"(no gradients, no FP32 master/moments, no activations); precise: "
        f"{model.params * sum(per.values()) / GB:.0f} GB before sharding"
    )
    activation = (
        f"activations {allowance.activation_factor:g}·s·b·h bytes per layer / TP (s={model.seq_length}, "
        f"b={allowance.micro_batch}; sequence parallel, selective recompute; Korthikanti et al. 2022)"
        if model.shape
        else "activations unknown without a shape (not counted)"
    )
    lines.append(f"allowance: {activation} + {allowance.overhead_bytes / GB:g} GB overhead per GPU")
    lines.append("")
    return lines


def _model_line(model: Model) -> str:
    text = f"model {model.name}: {model.params / 1e9:.2f} B parameters"
    if model.shape and model.nominal_params and model.source != "given":
        off = model.params / model.nominal_params - 1
        text += f" (computed from the shape; nominal {model.nominal_params / 1e9:g} B, {off:+.1%})"
    if model.shape:
        s = model.shape
        text += (
            f", {s.layers} layers, hidden {s.hidden}, {s.heads} heads ({s.kv_heads} KV), "
            f"FFN {s.ffn}, vocab {s.vocab}, sequence {s.seq_length}"
        )
    return text


def _table(results: list[GpuMemory], ckpt_per_param: int, params: float) -> list[str]:
    head = (
        f"{'TP':>3} {'PP':>3} {'DP':>3}  {'params/GPU':>10}  {'weights':>7} {'grads':>6} "
        f"{'optim':>6} {'activ':>6} {'other':>6} {'total':>6}  {'fits':<4}  {'ckpt files':>10} "
        f"{'GB/file':>8}"
    )
    lines = ["memory per GPU in GB (busiest GPU: largest pipeline stage + embedding):", head]
    for r in results:
        lay = r.layout
        lines.append(
            f"{lay.tp:>3} {lay.pp:>3} {lay.dp:>3}  {r.params_per_gpu / 1e9:>8.2f} B  "
            f"{_gb(r.weights):>7} {_gb(r.gradients):>6} {_gb(r.optimizer):>6} "
            f"{_gb(r.activations):>6} {_gb(r.overhead):>6} {_gb(r.total):>6}  "
            f"{_fit_word(r):<5} {lay.model_parallel:>10} "
            f"{params * ckpt_per_param / lay.model_parallel / GB:>8.1f}"
        )
    return lines


def _fit_word(r: GpuMemory) -> str:
    return "tight" if r.tight else "yes" if r.fits else "no"


def _fit_summary(model: Model, results: list[GpuMemory], best: GpuMemory | None) -> list[str]:
    fitting = [
        f"TP={r.layout.tp} PP={r.layout.pp}" + (" (tight)" if r.tight else "")
        for r in results
        if r.fits
    ]
    lines = [""]
    if fitting:
        lines.append(f"fit: {', '.join(fitting)}")
    else:
        lines.append("fit: none of these layouts fits")
    if best:
        lay = best.layout
        lines.append(
            f"smallest that fits: TP={lay.tp} PP={lay.pp} ({lay.model_parallel} GPU(s) per model "
            f"replica, DP={lay.dp}, {_gb(best.total)} of {_gb(best.capacity)} GB)"
        )
    paper = TABLE3.get(model.name)
    if paper:
        match = next((r for r in results if (r.layout.tp, r.layout.pp) == paper), None)
        if match:
            verdict = "fits" if match.fits else "does not fit"
            lines.append(
                f"paper (Table 3) used TP={paper[0]} PP={paper[1]}: {verdict} here "
                f"({_gb(match.total)} GB)"
            )
    return lines


def _checkpoint_lines(
    ckpt: Checkpoint,
    load: SaveLoad,
    layout: Layout,
    why: str,
    export: dict[str, str] | None,
) -> list[str]:
    where = (
        f"export '{export['name']}' ({export['server']}:{export['path']}"
        + (f", mounted at {export['mount_point']}" if export["mount_point"] else "")
        + ")"
        if export
        else "the checkpoint storage (the inventory names no export with purpose 'checkpoints')"
    )
    minutes = load.seconds / 60
    return [
        "",
        f"checkpoint at TP={layout.tp} PP={layout.pp} ({why}): {ckpt.files} files × "
        f"{ckpt.file_bytes / GB:.1f} GB = {ckpt.total_bytes / GB:,.1f} GB "
        f"({ckpt.bytes_per_param} B/param: {ckpt.contents}; gradients are not saved)",
        f"  save within {minutes:g} min: {where} must take {load.write_bytes_per_s / GB:.2f} GB/s "
        f"from {load.writers} single-threaded writers, {load.write_bytes_per_s_per_rank / 1e6:,.0f} "
        "MB/s each",
        f"  restore: {load.readers} ranks read at once ({load.files_read_at_once} distinct files, "
        f"each read by DP={layout.dp} replicas): {load.read_bytes / GB:,.1f} GB, "
        f"{load.read_bytes_per_s / GB:.2f} GB/s to restore within {minutes:g} min",
    ]


def _layout_dict(layout: Layout) -> dict[str, int]:
    return {"tp": layout.tp, "pp": layout.pp, "dp": layout.dp}


def _memory_dict(r: GpuMemory) -> dict[str, Any]:
    return {
        **_layout_dict(r.layout),
        "params_per_gpu": r.params_per_gpu,
        "bytes": {
            "weights": r.weights,
            "gradients": r.gradients,
            "optimizer": r.optimizer,
            "activations": r.activations,
            "overhead": r.overhead,
            "total": r.total,
            "capacity": r.capacity,
        },
        "fits": r.fits,
        "tight": r.tight,
    }


def _payload(
    ctx: dict[str, Any],
    model: Model,
    prec: Precision,
    optimizer: str,
    distributed: bool,
    allowance: Allowance,
) -> dict[str, Any]:
    return {
        **ctx,
        "model": {
            "name": model.name,
            "params": model.params,
            "nominal_params": model.nominal_params,
            "shape": asdict(model.shape) if model.shape else None,
        },
        "precision": prec.name,
        "optimizer": optimizer,
        "distributed_optimizer": distributed,
        "bytes_per_param": bytes_per_param(prec, optimizer),
        "allowance": asdict(allowance),
        "paper_arithmetic": {
            "weights_bytes": paper_weight_bytes(model.params, prec.name),
            "with_adam_bytes": paper_adam_bytes(model.params, prec.name),
        },
    }
