"""The training acceptance job: the white paper's Llama 2 pre-training with NeMo, judged by Table 4.

The seam the Slurm run (`trainbed probe INVENTORY --suite training`) calls:

- :func:`training_job` renders the batch script (``templates/training-nemo.sbatch.j2``) for a
  model and node count: pure, golden-tested. The run submits ``job.script`` with sbatch from a
  directory every node shares (the script mounts ``$SLURM_SUBMIT_DIR`` into the container and
  works there), waits at most ``job.time_limit``, and fetches ``job.log_file`` from that directory.
- :func:`judge_training` reads that log (``trainbed.parse.nemo``) and judges the median step time,
  as minutes per 500 steps, against Table 4 for the inventory's network configuration
  (``trainbed.sizing.training``). ``verdict.as_dict()`` is the ``training`` entry of the probe
  results document (``trainbed/schemas/probe-results.schema.json``).
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from typing import Any

from trainbed.errors import TrainbedError
from trainbed.inventory.model import Inventory
from trainbed.parse.nemo import parse_nemo_log
from trainbed.render.containers import pyxis_image, require_containers
from trainbed.render.fabric import nccl_environment
from trainbed.render.templates import render, shell_word
from trainbed.sizing import models, training

MODELS = tuple(training.TABLE3)
STEPS = training.PAPER_STEPS
MICRO_BATCH = 1
SEQ_LENGTH = 4096
#: NeMo 23.11's GPT pre-training entry point and its base config, inside the NeMo image.
NEMO_SCRIPT = "/opt/NeMo/examples/nlp/language_modeling/megatron_gpt_pretraining.py"
NEMO_CONFIG_PATH = "/opt/NeMo/examples/nlp/language_modeling/conf"
NEMO_CONFIG_NAME = "megatron_gpt_config"
#: Slurm time limit: the expected time with this margin, plus this much for image import and
#: model initialisation (not part of Table 4's times).
TIME_MARGIN = 1.5
SETUP_MINUTES = 30


class TrainingError(TrainbedError):
    """A training job that cannot be made for this inventory (model, node count, containers)."""


@dataclass(frozen=True, slots=True)
class TrainingJob:
    """One NeMo pre-training batch job, ready for `sbatch`."""

    name: str
    model: str
    nodes: int
    script: str
    time_limit: str  # sbatch --time, HH:MM:SS
    log_file: str  # sbatch --output, relative to the submit directory

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "nodes": self.nodes,
            "time_limit": self.time_limit,
            "log_file": self.log_file,
        }


@dataclass(frozen=True, slots=True)
class TrainingVerdict:
    """Minutes per 500 steps against Table 4; `reasons` say why it failed (empty when it passed)."""

    model: str
    nodes: int
    network_config: int
    passed: bool
    minutes_per_500_steps: float | None
    expected_minutes: float | None
    limit_minutes: float | None
    tolerance: float
    basis: str | None
    expectation_measured: bool | None  # a Table 4 figure (True) or one scaled from it (False)
    median_step_s: float | None
    p10_step_s: float | None
    p90_step_s: float | None
    iqr_step_s: float | None
    steps: int  # steps in the log
    timed_steps: int  # steps the median is taken over
    warmup_skipped: int
    last_step: int | None
    text: str
    reasons: tuple[str, ...]
    notes: tuple[str, ...]
    warnings: tuple[str, ...]
    job_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "nodes": self.nodes,
            "network_config": self.network_config,
            "passed": self.passed,
            "minutes_per_500_steps": _round(self.minutes_per_500_steps, 2),
            "expected_minutes": _round(self.expected_minutes, 2),
            "limit_minutes": _round(self.limit_minutes, 2),
            "tolerance": self.tolerance,
            "basis": self.basis,
            "expectation_measured": self.expectation_measured,
            "median_step_s": _round(self.median_step_s, 4),
            "p10_step_s": _round(self.p10_step_s, 4),
            "p90_step_s": _round(self.p90_step_s, 4),
            "iqr_step_s": _round(self.iqr_step_s, 4),
            "steps": self.steps,
            "timed_steps": self.timed_steps,
            "warmup_skipped": self.warmup_skipped,
            "last_step": self.last_step,
            "text": self.text,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "job_id": self.job_id,
            "statistic": "median",
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _check_case(inventory: Inventory, model: str, nodes: int) -> None:
    if model not in training.TABLE3:
        raise TrainingError(f"unknown model {model!r} (the paper ran: {', '.join(MODELS)})")
    if nodes < 1 or nodes > len(inventory.compute):
        raise TrainingError(
            f"{nodes} node(s) requested; {inventory.source.name} has {len(inventory.compute)} "
            "compute node(s)"
        )
    tp, pp = training.TABLE3[model]
    gpus = nodes * inventory.compute[0].profile.gpus.count
    dp, rest = divmod(gpus, tp * pp)
    if rest or dp == 0:
        raise TrainingError(f"{gpus} GPUs cannot hold TP={tp} × PP={pp} a whole number of times")
    if training.GLOBAL_BATCH % (dp * MICRO_BATCH):
        raise TrainingError(
            f"global batch {training.GLOBAL_BATCH} is not a multiple of DP={dp} × micro batch "
            f"{MICRO_BATCH} on {nodes} node(s): NeMo refuses this configuration"
        )


def _time_limit(minutes: float) -> str:
    total = math.ceil(minutes * TIME_MARGIN + SETUP_MINUTES)
    return f"{total // 60:02d}:{total % 60:02d}:00"


def _nccl_env(inventory: Inventory) -> dict[str, str]:
    """The NCCL variables every compute node agrees on (each node's /etc/nccl.conf has the rest)."""
    envs = [nccl_environment(inventory, node) for node in inventory.compute]
    return {k: v for k, v in envs[0].items() if all(env.get(k) == v for env in envs[1:])}


def model_overrides(model: str, nodes: int, gpus_per_node: int, dataset: str | None) -> list[str]:
    """Hydra overrides of NeMo's megatron_gpt_config for the paper's run of `model`."""
    shape = models.known_model(model).shape
    assert shape is not None
    tp, pp = training.TABLE3[model]
    data = (
        ["model.data.data_impl=mmap", f"model.data.data_prefix=[1.0,{dataset}]"]
        if dataset
        else ["model.data.data_impl=mock", "model.data.data_prefix=[]"]
    )
    return [
        f"trainer.num_nodes={nodes}",
        f"trainer.devices={gpus_per_node}",
        "trainer.precision=bf16",
        f"trainer.max_steps={STEPS}",
        "trainer.max_epochs=null",
        "trainer.log_every_n_steps=1",
        "trainer.limit_val_batches=0.0",
        "trainer.enable_checkpointing=False",
        "exp_manager.create_checkpoint_callback=False",
        "exp_manager.resume_if_exists=False",
        f"model.tensor_model_parallel_size={tp}",
        f"model.pipeline_model_parallel_size={pp}",
        f"model.micro_batch_size={MICRO_BATCH}",
        f"model.global_batch_size={training.GLOBAL_BATCH}",
        f"model.encoder_seq_length={SEQ_LENGTH}",
        f"model.max_position_embeddings={SEQ_LENGTH}",
        f"model.num_layers={shape.layers}",
        f"model.hidden_size={shape.hidden}",
        f"model.ffn_hidden_size={shape.ffn}",
        f"model.num_attention_heads={shape.heads}",
        f"model.num_query_groups={shape.kv_heads}",
        "model.activation=fast-swiglu",
        "model.normalization=rmsnorm",
        "model.position_embedding_type=rope",
        "model.bias=False",
        "model.share_embeddings_and_output_weights=False",
        "model.hidden_dropout=0.0",
        "model.attention_dropout=0.0",
        "model.megatron_amp_O2=True",
        "model.transformer_engine=True",
        *data,
    ]


def training_job(inventory: Inventory, model: str, nodes: int) -> TrainingJob:
    """The NeMo pre-training batch job for `model` on `nodes` compute nodes of `inventory`."""
    _check_case(inventory, model, nodes)
    containers = require_containers(inventory)
    expectation = training.expected_minutes(
        model, nodes, inventory.networks.infiniband.network_config
    )
    assert expectation is not None  # every Table 3 model has a Table 4 row
    name = f"trainbed-training-{model}-{nodes}n"
    profile = inventory.compute[0].profile
    gpus_per_node = profile.gpus.count
    tp, pp = training.TABLE3[model]
    mounts = [
        '"${SLURM_SUBMIT_DIR}:${SLURM_SUBMIT_DIR}"',
        "/etc/nccl.conf:/etc/nccl.conf:ro",
        *(f"{path}:{path}:ro" for path in containers.mounts),
    ]
    job = TrainingJob(
        name=name,
        model=model,
        nodes=nodes,
        script="",
        time_limit=_time_limit(expectation.minutes),
        log_file=f"{name}.log",
    )
    script = render(
        "training-nemo.sbatch.j2",
        job=job,
        source=inventory.source.name,
        title=model.replace("llama2-", "Llama 2 ").upper().replace("LLAMA 2 ", "Llama 2 "),
        partition=inventory.probes.partition,
        gpus_per_node=gpus_per_node,
        # one task per GPU: on nodes with fewer CPUs than GPUs only the step can overcommit
        overcommit=profile.cpu.cpus < gpus_per_node,
        steps=STEPS,
        tp=tp,
        pp=pp,
        micro_batch=MICRO_BATCH,
        global_batch=training.GLOBAL_BATCH,
        seq_length=SEQ_LENGTH,
        data_text=f"data {containers.dataset}" if containers.dataset else "NeMo's mock data",
        nccl_env={k: shell_word(v) for k, v in _nccl_env(inventory).items()},
        image=shlex.quote(pyxis_image(containers.nemo_image)),
        mounts=",".join(mounts),
        script=NEMO_SCRIPT,
        config_path=NEMO_CONFIG_PATH,
        config_name=NEMO_CONFIG_NAME,
        overrides=[
            shlex.quote(o) for o in model_overrides(model, nodes, gpus_per_node, containers.dataset)
        ],
    )
    return TrainingJob(
        name=job.name,
        model=model,
        nodes=nodes,
        script=script,
        time_limit=job.time_limit,
        log_file=job.log_file,
    )


def judge_training(
    inventory: Inventory,
    model: str,
    nodes: int,
    log_text: str | None,
    job_id: str | None = None,
    tolerance: float = training.TOLERANCE,
) -> TrainingVerdict:
    """The NeMo log of the job against Table 4 for this model, node count and network.

    Fails when the log has no step times, when the job stopped before the last step, or when
    the median step time after warm-up is beyond the tolerance over the expectation. `log_text`
    None means the run fetched nothing (the reason is then that).
    """
    network = inventory.networks.infiniband.network_config
    parsed = parse_nemo_log(log_text or "")
    steps = [(s.global_step, s.step_time_s) for s in parsed.steps if s.step_time_s is not None]
    verdict = training.judge(steps, model, nodes, network, tolerance=tolerance)
    stats, expectation = verdict.stats, verdict.expectation
    reasons: list[str] = []
    if log_text is None:
        reasons.append("no NeMo log came back from the job")
    elif verdict.ok is not True:
        reasons.append(verdict.text)
    last = parsed.steps[-1].global_step if parsed.steps else None
    if last is not None and last + 1 < STEPS:
        reasons.append(f"the job stopped at step {last + 1} of {STEPS}")
    nan = [s.global_step for s in parsed.steps if s.loss is not None and math.isnan(s.loss)]
    if nan:
        reasons.append(f"loss is NaN from step {nan[0]}")
    return TrainingVerdict(
        model=model,
        nodes=nodes,
        network_config=network,
        passed=not reasons,
        minutes_per_500_steps=stats.minutes_per_500 if stats else None,
        expected_minutes=expectation.minutes if expectation else None,
        limit_minutes=expectation.minutes * (1 + tolerance) if expectation else None,
        tolerance=tolerance,
        basis=expectation.basis if expectation else None,
        expectation_measured=expectation.measured if expectation else None,
        median_step_s=stats.median if stats else None,
        p10_step_s=stats.p10 if stats else None,
        p90_step_s=stats.p90 if stats else None,
        iqr_step_s=stats.iqr if stats else None,
        steps=len(parsed.steps),
        timed_steps=stats.steps if stats else 0,
        warmup_skipped=stats.skipped if stats else 0,
        last_step=last,
        text=verdict.text,
        reasons=tuple(reasons),
        notes=expectation.notes if expectation else (),
        warnings=parsed.warnings,
        job_id=job_id,
    )
