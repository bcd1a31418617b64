"""NeMo 23.11 GPT pre-training (simulated), as the NeMo image runs it under Slurm and pyxis.

``python /opt/NeMo/examples/nlp/language_modeling/megatron_gpt_pretraining.py --config-path=...
--config-name=megatron_gpt_config key=value ...`` in every task of ``srun``. Stdlib only.

Checked like the real stack: the Hydra config exists and every override names one of its keys;
Lightning's node and device counts match Slurm's layout; TP × PP divides the world size and the
global batch is a multiple of micro batch × DP (NeMo's assertion); every node has its GPUs and a
trained NVSwitch fabric (CUDA). Each node's local rank 0 publishes what it has on the shared
fabric volume; global rank 0 waits for all (bounded) and alone prints the training log in NeMo's
PyTorch Lightning progress-bar format.

Step time: the white paper's Table 4 pace for the model and node count, for the network the
nodes really have: the same 8 × 400 Gb/s as configuration 1 gives its time, half of it
(configuration 2) its time, linear in (3200 Gb/s / bandwidth − 1) in between and below; node
counts the paper did not run scale from the nearest row at 95 % efficiency per doubling. Then
× the slowest node's ``training.slowdown`` from its hardware description (``lab/fault
NODE training slow 1.2``), ± 0.3 % noise; step 0 carries set-up (× 6), steps 1–4 warm up (× 1.15).
Steps take ``TRAINBED_SIM_NEMO_STEP_S`` (default 2 ms) of wall time: 500 steps run in seconds
while the log shows the simulated times.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import hwdesc

NEMO_VERSION = "1.21.0"
# Table 4 (minutes for 500 steps, configuration 1 and 2) and Table 3 (TP, PP) of the white paper.
TABLE4 = {
    ("llama2-7b", 2): (61.0, 63.0),
    ("llama2-7b", 4): (32.0, 35.0),
    ("llama2-7b", 6): (22.0, 25.0),
    ("llama2-70b", 6): (230.0, 244.0),
}
# (layers, hidden, ffn, heads, query groups) -> model
SHAPES: dict[tuple[int, ...], str] = {
    (32, 4096, 11008, 32, 32): "llama2-7b",
    (80, 8192, 28672, 64, 8): "llama2-70b",
}
PARAMS = {"llama2-7b": 6.738e9, "llama2-70b": 68.98e9}
CONFIG1_GBPS = 8 * 400
EFFICIENCY_PER_DOUBLING = 0.95
RENDEZVOUS_S = float(os.environ.get("TRAINBED_SIM_NCCL_WAIT", "60"))
STEP_WALL_S = float(os.environ.get("TRAINBED_SIM_NEMO_STEP_S", "0.002"))
PAD_SIZE = 5


class Fail(Exception):
    """Ends the run with a message on stderr and exit status 1."""


def stamp() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def nemo_log(where: str, message: str) -> None:
    print(f"[NeMo I {stamp()} {where}] {message}", flush=True)


# --- Hydra ------------------------------------------------------------------------------------


def config_keys(path: Path) -> set[str]:
    """Dotted keys of a YAML mapping (indentation only, as NeMo's configs are written)."""
    keys: set[str] = set()
    stack: list[tuple[int, str]] = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].rstrip()
        if not line.strip() or line.lstrip().startswith(("#", "-")) or ":" not in line:
            continue
        indent = len(line) - len(line.lstrip())
        key = line.strip().split(":", 1)[0].strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        dotted = ".".join([k for _, k in stack] + [key])
        keys.add(dotted)
        stack.append((indent, key))
    return keys


def parse_args(argv: list[str]) -> dict[str, str]:
    config_path = config_name = None
    overrides: dict[str, str] = {}
    for arg in argv:
        if arg.startswith("--config-path="):
            config_path = arg.split("=", 1)[1]
        elif arg.startswith("--config-name="):
            config_name = arg.split("=", 1)[1]
        elif "=" in arg and not arg.startswith("-"):
            key, value = arg.split("=", 1)
            overrides[key] = value
        else:
            raise Fail(f"error: unrecognized arguments: {arg}")
    script_dir = Path(sys.argv[0]).resolve().parent if sys.argv[0] else Path.cwd()
    conf = Path(config_path or script_dir / "conf") / f"{config_name or 'megatron_gpt_config'}.yaml"
    if not conf.is_file():
        raise Fail(
            "hydra.errors.MissingConfigException: Cannot find primary config "
            f"'{config_name}'. Check that it's in your config search path."
        )
    known = config_keys(conf)
    for key in overrides:
        plain = key.lstrip("+")
        if not key.startswith("+") and plain not in known:
            raise Fail(
                f"Could not override '{plain}'.\nTo append to your config use +{plain}={overrides[key]}\n"
                f"Key '{plain.rsplit('.', 1)[-1]}' is not in struct\n"
                f"    full_key: {plain}\n    object_type=dict"
            )
    return {k.lstrip("+"): v for k, v in overrides.items()}


def integer(cfg: dict[str, str], key: str, default: int) -> int:
    value = cfg.get(key)
    return default if value in (None, "null") else int(float(value))


# --- the job layout ---------------------------------------------------------------------------


def layout(cfg: dict[str, str]) -> dict[str, Any]:
    env = os.environ
    world = int(env.get("SLURM_NTASKS", "1"))
    nnodes = int(env.get("SLURM_NNODES", "1"))
    per_node = world // max(nnodes, 1)
    num_nodes, devices = integer(cfg, "trainer.num_nodes", 1), integer(cfg, "trainer.devices", 1)
    if devices != per_node:
        raise Fail(
            f"lightning_fabric.utilities.exceptions.MisconfigurationException: You set "
            f"`devices={devices}` in Lightning, but the number of tasks per node configured in "
            f"SLURM `--ntasks-per-node={per_node}` does not match. HINT: Set `devices={per_node}`."
        )
    if num_nodes != nnodes:
        raise Fail(
            f"RuntimeError: trainer.num_nodes={num_nodes} but Slurm allocated {nnodes} node(s)"
        )
    tp = integer(cfg, "model.tensor_model_parallel_size", 1)
    pp = integer(cfg, "model.pipeline_model_parallel_size", 1)
    micro = integer(cfg, "model.micro_batch_size", 4)
    global_batch = integer(cfg, "model.global_batch_size", 8)
    if world % (tp * pp):
        raise Fail(
            f"AssertionError: world size ({world}) is not divisible by tensor_model_parallel_size "
            f"({tp}) times pipeline_model_parallel_size ({pp})"
        )
    dp = world // (tp * pp)
    if global_batch % (micro * dp):
        raise Fail(
            f"AssertionError: global batch size ({global_batch}) is not divisible by micro batch "
            f"size ({micro}) times data parallel size ({dp})"
        )
    shape = (
        *tuple(
            integer(cfg, f"model.{k}", 0)
            for k in ("num_layers", "hidden_size", "ffn_hidden_size", "num_attention_heads")
        ),
        integer(cfg, "model.num_query_groups", integer(cfg, "model.num_attention_heads", 0)),
    )
    model = SHAPES.get(shape)
    if model is None:
        raise Fail(f"trainbed-sim: no simulated pace for the model shape {shape}")
    return {
        "world": world,
        "nnodes": nnodes,
        "per_node": per_node,
        "rank": int(env.get("SLURM_PROCID", "0")),
        "local": int(env.get("SLURM_LOCALID", "0")),
        "node_id": int(env.get("SLURM_NODEID", "0")),
        "job": f"{env.get('SLURM_JOB_ID', 'nojob')}.{env.get('SLURM_STEP_ID', '0')}",
        "tp": tp,
        "pp": pp,
        "dp": dp,
        "micro": micro,
        "global_batch": global_batch,
        "max_steps": integer(cfg, "trainer.max_steps", 100000),
        "model": model,
    }


def node_state(hw: dict[str, Any], devices: int) -> dict[str, Any]:
    """What this node brings to the job: GPUs, CUDA readiness, its rails, its slowdown."""
    active = [h for h in hw.get("hcas", []) if hwdesc.port_view(h)["active"]]
    gpus = len(hwdesc.present_gpus(hw))
    error = None
    if not hwdesc.fabric_ready(hw):
        error = "CUDA error: system not yet initialized (is nvidia-fabricmanager running?)"
    elif gpus < devices:
        error = f"CUDA error: invalid device ordinal (node has {gpus} GPU(s), {devices} needed)"
    return {
        "hostname": hwdesc.hostname(hw),
        "hcas": len(active),
        "rate_gbps": min((int(h["rate_gbps"]) for h in active), default=0),
        "slowdown": float(hw.get("training", {}).get("slowdown", 1.0)),
        "error": error,
    }


def rendezvous(lay: dict[str, Any], state: dict[str, Any]) -> tuple[list[dict[str, Any]], Path]:
    """Local rank 0 publishes its node; global rank 0 gathers every node (bounded)."""
    jobdir = hwdesc.fabric_dir() / "nemo" / lay["job"]
    jobdir.mkdir(parents=True, exist_ok=True)
    if lay["local"] == 0:
        tmp = jobdir / f".node{lay['node_id']}.tmp"
        tmp.write_text(json.dumps(state))
        tmp.replace(jobdir / f"node{lay['node_id']}.json")
    if lay["rank"] != 0:
        return [], jobdir
    deadline = time.monotonic() + RENDEZVOUS_S
    files = [jobdir / f"node{i}.json" for i in range(lay["nnodes"])]
    while time.monotonic() < deadline:
        if all(f.exists() for f in files):
            return [json.loads(f.read_text()) for f in files], jobdir
        time.sleep(0.1)
    missing = [i for i, f in enumerate(files) if not f.exists()]
    raise Fail(f"torch.distributed.DistStoreError: timed out waiting for node(s) {missing}")


def minutes_per_500(model: str, nodes: int, bandwidth_gbps: float) -> float:
    """The white paper's pace for this model, node count and per-node network bandwidth."""
    rows = {n: t for (m, n), t in TABLE4.items() if m == model}
    nearest = min(rows, key=lambda n: (abs(math.log2(nodes / n)), -n))
    config1, config2 = rows[nearest]
    if nodes != nearest:
        scale = (nearest / nodes) / EFFICIENCY_PER_DOUBLING ** math.log2(nodes / nearest)
        config1, config2 = config1 * scale, config2 * scale
    if bandwidth_gbps <= 0:
        return math.inf
    return config1 + (config2 - config1) * (CONFIG1_GBPS / bandwidth_gbps - 1)


# --- the log ----------------------------------------------------------------------------------


def format_num(n: float) -> str:
    """PyTorch Lightning's TQDMProgressBar.format_num (tqdm's 3 significant digits, padded)."""
    f = f"{n:.3g}".replace("+0", "+").replace("-0", "-")
    text = f if len(f) < len(str(n)) else str(n)
    if "e" not in text:
        if "." not in text and len(text) < PAD_SIZE:
            text += "."
        text += "0" * (PAD_SIZE - len(text))
    return text


def interval(seconds: float) -> str:
    """tqdm.format_interval."""
    mins, s = divmod(int(seconds), 60)
    h, m = divmod(mins, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def bar(n: int, total: int, elapsed: float, rate_s: float, postfix: str) -> str:
    frac = n / total
    filled = int(frac * 10)
    remaining = interval((total - n) * rate_s) if n else "?"
    return (
        f"Epoch 0: : {frac * 100:3.0f}%|{'█' * filled}{' ' * (10 - filled)}| {n}/{total} "
        f"[{interval(elapsed)}<{remaining}{postfix}]"
    )


def train(lay: dict[str, Any], nodes: list[dict[str, Any]]) -> None:
    bandwidth = min(n["hcas"] * n["rate_gbps"] for n in nodes)
    slowdown = max(n["slowdown"] for n in nodes)
    pace = minutes_per_500(lay["model"], lay["nnodes"], bandwidth) * slowdown
    step_s = pace * 60 / 500
    rng = random.Random(lay["job"])
    params = PARAMS[lay["model"]]
    nemo_log(
        "megatron_gpt_model:1207",
        f"Pipeline model parallel rank: 0, Tensor model parallel rank: 0, Number of model "
        f"parameters on device: {params / lay['tp'] / lay['pp']:.2e}. Total number of model "
        f"parameters: {params:.2e}.",
    )
    print("", flush=True)
    print(
        "  | Name  | Type     | Params\n-----------------------------------\n"
        f"0 | model | GPTModel | {params / lay['tp'] / lay['pp'] / 1e9:.1f} B\n"
        "-----------------------------------",
        flush=True,
    )
    total = lay["max_steps"]
    out = sys.stdout
    out.write(bar(0, total, 0.0, step_s, ", ?it/s"))
    elapsed, postfix, loss = 0.0, "", 10.85
    for step in range(total):
        factor = 6.0 if step == 0 else 1.15 if step < 5 else 1.0
        t = step_s * factor * (1 + rng.uniform(-0.003, 0.003))
        elapsed += t
        loss = max(6.2, loss - 0.012 * (1 + rng.uniform(-0.5, 0.5)))
        out.write("\r" + bar(step + 1, total, elapsed, step_s, postfix))
        postfix = (
            f", reduced_train_loss={format_num(round(loss, 3))}, global_step={format_num(float(step))}, "
            f"consumed_samples={format_num(float((step + 1) * lay['global_batch']))}, "
            f"train_step_timing in s={format_num(round(t, 3))}"
        )
        out.write("\r" + bar(step + 1, total, elapsed, step_s, postfix))
        out.flush()
        time.sleep(STEP_WALL_S)
    out.write("\n")
    print(f"`Trainer.fit` stopped: `max_steps={total}` reached.", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    jobdir: Path | None = None
    lay: dict[str, Any] | None = None
    try:
        cfg = parse_args(args)
        lay = layout(cfg)
        hw = hwdesc.load()
        state = node_state(hw, lay["per_node"])
        if lay["rank"] == 0:
            nemo_log(
                "megatron_gpt_pretraining:37",
                "\n\n************** Experiment configuration ***********",
            )
            print("\n".join(f"{k}: {v}" for k, v in sorted(cfg.items())), flush=True)
            print(
                "GPU available: True (cuda), used: True\nTPU available: False, using: 0 TPU cores\n"
                "IPU available: False, using: 0 IPUs\nHPU available: False, using: 0 HPUs",
                flush=True,
            )
        print(
            f"Initializing distributed: GLOBAL_RANK: {lay['rank']}, MEMBER: {lay['rank'] + 1}/"
            f"{lay['world']}",
            flush=True,
        )
        nodes, jobdir = rendezvous(lay, state)
        if lay["rank"] != 0:
            return wait_result(jobdir)
        failed = [n for n in nodes if n["error"]]
        if failed:
            raise Fail("; ".join(f"{n['hostname']}: {n['error']}" for n in failed))
        print(
            "-" * 100 + f"\ndistributed_backend=nccl\nAll distributed processes registered. "
            f"Starting with {lay['world']} processes\n" + "-" * 100 + "\n",
            flush=True,
        )
        nemo_log(
            "megatron_init:234",
            f"Rank 0 has data parallel group : {list(range(0, lay['world'], lay['tp'] * lay['pp']))}",
        )
        train(lay, nodes)
        rc = 0
    except Fail as exc:
        print(
            f"Error executing job with overrides: {args[2:] if len(args) > 2 else args}",
            file=sys.stderr,
        )
        print(str(exc), file=sys.stderr, flush=True)
        rc = 1
    if jobdir is not None and lay is not None and lay["rank"] == 0:
        (jobdir / "result").write_text(str(rc))
    return rc


def wait_result(jobdir: Path) -> int:
    """A non-zero rank: wait (bounded) for rank 0's exit status and share it."""
    deadline = time.monotonic() + RENDEZVOUS_S + 600
    while time.monotonic() < deadline:
        try:
            return int((jobdir / "result").read_text())
        except (OSError, ValueError):
            time.sleep(0.2)
    return 1


if __name__ == "__main__":
    sys.exit(main())
