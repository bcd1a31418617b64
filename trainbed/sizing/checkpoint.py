"""Checkpoint size, files, and the storage bandwidth that saving and restoring one needs.

What a training checkpoint holds, per parameter: the weights at training precision, plus the
optimizer's state: the FP32 master copy (mixed precision only) and Adam's FP32 m and v. Gradients
are not saved. For BF16/FP16 with Adam that is 2 + 4 + 4 + 4 = 14 B/param; for FP32, 4 + 4 + 4 = 12.

This is the accounting that reproduces the paper's figure: 175 B parameters at TP=8 × PP=8 write 64
files (one per model-parallel rank) of 175e9 × 14 / 64 = 38.3 GB, 2.45 TB in all: the paper's
"one 40GB checkpoint file" per GPU and "approximately 2.4TB of data from 64 files". Weights alone
(2 B/param, 5.5 GB per file) or the training memory (16 B/param, 43.8 GB) would not give those
figures. `weights_only=True` gives the paper's other number, the FP16 model of 350 GB.

Saving: the paper says each GPU writes its file single-threaded, so a save within `seconds` needs
every writing rank to sustain file/seconds and the storage (here the PowerScale export holding the
checkpoints) the total/seconds. Only one data-parallel replica writes (Megatron's DP rank 0).
Restoring: every rank of every DP replica reads its model-parallel rank's file at once, so the
storage serves DP × total bytes, TP × PP distinct files each read by DP readers.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainbed.sizing.memory import OPTIMIZER_STATES, STATE_BYTES, Layout, Precision


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One checkpoint of a model under a model-parallel layout."""

    files: int  # one per model-parallel rank: TP × PP
    file_bytes: float
    total_bytes: float
    bytes_per_param: int
    contents: str


@dataclass(frozen=True, slots=True)
class SaveLoad:
    """Bandwidth a checkpoint needs from storage to save and to restore within `seconds`."""

    seconds: float
    write_bytes_per_s: float  # aggregate, all writing ranks together
    write_bytes_per_s_per_rank: float  # one single-threaded writer per file
    writers: int
    readers: int  # every GPU of the job
    read_bytes: float  # what a restore reads in all: DP × checkpoint
    read_bytes_per_s: float
    files_read_at_once: int


def checkpoint_bytes_per_param(
    precision: Precision, optimizer: str, weights_only: bool = False
) -> int:
    """Bytes per parameter in a checkpoint (see the module docstring)."""
    if weights_only:
        return precision.weight_bytes
    return (
        precision.weight_bytes + precision.master_bytes + OPTIMIZER_STATES[optimizer] * STATE_BYTES
    )


def checkpoint(
    params: float,
    precision: Precision,
    optimizer: str,
    tp: int,
    pp: int,
    weights_only: bool = False,
) -> Checkpoint:
    """Size and file count of one checkpoint; files are taken as equal in size."""
    per_param = checkpoint_bytes_per_param(precision, optimizer, weights_only)
    total = params * per_param
    if weights_only:
        contents = f"{precision.name} weights"
    elif precision.master_bytes:
        contents = f"{precision.name} weights + FP32 master weights + {optimizer} state (FP32)"
    else:
        contents = f"{precision.name} weights + {optimizer} state (FP32)"
    return Checkpoint(tp * pp, total / (tp * pp), total, per_param, contents)


def save_and_restore(ckpt: Checkpoint, layout: Layout, seconds: float) -> SaveLoad:
    """Storage bandwidth to save `ckpt` within `seconds`, and to restore it within the same time."""
    read_bytes = ckpt.total_bytes * layout.dp
    return SaveLoad(
        seconds=seconds,
        write_bytes_per_s=ckpt.total_bytes / seconds,
        write_bytes_per_s_per_rank=ckpt.file_bytes / seconds,
        writers=ckpt.files,
        readers=layout.gpus,
        read_bytes=read_bytes,
        read_bytes_per_s=read_bytes / seconds,
        files_read_at_once=ckpt.files,
    )
