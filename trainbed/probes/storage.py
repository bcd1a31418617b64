"""The storage suite: the checkpoint pattern at the checkpoint export's mount point, judged by
what the model needs (`trainbed.verdicts.storage`).

- :func:`storage_spec` renders the job (``templates/probe-storage.sbatch.j2`` and its node
  script): on every compute node, one single-threaded fio writer per GPU, each writing its own
  file of ``probes.storage.file_mib`` under ``MOUNT/trainbed-probe-RUN/NODE``, all at once;
  then one reader per file, all at once; then the files are removed. Each node also records
  ``findmnt -J -T`` of the directory it wrote to. fio writes its JSON per rank under the run
  directory (``storage/NODE.RANK.write.json``, ``...read.json``, ``storage/NODE.findmnt.json``).
- :func:`judge_storage` reads those files back and judges them; ``verdict.as_dict()`` is the
  ``storage`` entry of the probe results document.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trainbed.errors import TrainbedError
from trainbed.inventory.model import ComputeNode, Inventory
from trainbed.parse.findmnt import parse_findmnt
from trainbed.parse.fio import parse_fio
from trainbed.render.templates import render
from trainbed.sizing.models import known_model
from trainbed.sizing.plan import plan_model
from trainbed.verdicts.storage import GB, Need, NodeStorage, StorageVerdict, judge, need

JOB_NAME = "storage"
OUTPUT_DIR = "storage"
#: 4 MiB requests straight to the server (O_DIRECT: the read-back cannot come from the page
#: cache), one process per file, the file flushed before fio stops the clock.
FIO_OPTIONS = "--bs=4M --ioengine=psync --direct=1 --numjobs=1 --end_fsync=1"
KINDS = ("write", "read")


class StorageError(TrainbedError):
    """The storage suite cannot run on this inventory (no checkpoint mount)."""


def checkpoint_directory(inventory: Inventory) -> str:
    """The mount point of the export that holds checkpoints."""
    for mount in inventory.mounts:
        if mount.export.purpose == "checkpoints":
            return mount.mount_point
    raise StorageError(
        f"{inventory.source}: the storage suite needs a mount of an export with purpose "
        "'checkpoints' (mounts: lists none)"
    )


def storage_need(inventory: Inventory) -> Need:
    """What `trainbed plan` computes `probes.storage.model`'s checkpoint needs of the storage."""
    settings = inventory.probes.storage
    sized = plan_model(
        inventory,
        known_model(settings.model),
        checkpoint_minutes=settings.checkpoint_minutes,
    )
    return need(sized.save_restore, sized.gpus_per_node, settings, settings.model)


def _gpus(inventory: Inventory, hostname: str) -> int:
    node = inventory.node(hostname)
    assert isinstance(node, ComputeNode), hostname
    return node.profile.gpus.count


def output_paths(inventory: Inventory, rundir: str, hostname: str) -> dict[str, str]:
    """Where one node's job writes: ``findmnt`` and ``RANK.write`` / ``RANK.read`` → path."""
    base = f"{rundir}/{OUTPUT_DIR}/{hostname}"
    paths = {"findmnt": f"{base}.findmnt.json"}
    for rank in range(_gpus(inventory, hostname)):
        for kind in KINDS:
            paths[f"{rank}.{kind}"] = f"{base}.{rank}.{kind}.json"
    return paths


@dataclass(frozen=True, slots=True)
class StorageSpec:
    """The storage job's files (path under the run directory → content) and its outputs."""

    nodes: tuple[str, ...]
    script: str
    log: str
    files: dict[str, str]
    outputs: dict[str, dict[str, str]]  # node → output_paths


def storage_spec(
    inventory: Inventory,
    rundir: str,
    run_id: str,
    nodes: tuple[str, ...],
    directory: str | None = None,
) -> StorageSpec:
    """The storage job over `nodes`, writing under the checkpoint mount point (or `directory`)."""
    directory = directory or checkpoint_directory(inventory)
    settings = inventory.probes.storage
    gpus = min(_gpus(inventory, n) for n in nodes)
    node_script = f"{JOB_NAME}.node.sh"
    common = {
        "source": inventory.source.name,
        "partition": inventory.probes.partition,
        "time_limit": inventory.probes.job_time_limit,
    }
    log = f"{rundir}/{JOB_NAME}.out"
    script = render(
        "probe-storage.sbatch.j2",
        **common,
        job={"name": JOB_NAME, "nodes": nodes, "log": log},
        gpus=0,
        directory=directory,
        file_mib=settings.file_mib,
        node_script=f"{rundir}/{node_script}",
    )
    node = render(
        "probe-storage-node.sh.j2",
        source=inventory.source.name,
        directory=directory,
        gpus=gpus,
        files=f"{directory}/trainbed-probe-{run_id}",
        outputs=f"{rundir}/{OUTPUT_DIR}",
        options=f"{FIO_OPTIONS} --size={settings.file_mib}M",
    )
    return StorageSpec(
        nodes,
        f"{JOB_NAME}.sbatch",
        log,
        {f"{JOB_NAME}.sbatch": script, node_script: node},
        {n: output_paths(inventory, rundir, n) for n in nodes},
    )


@dataclass(frozen=True, slots=True)
class StorageResult:
    """The storage suite's verdict with what it was judged by; ``as_dict()`` is its entry in
    the probe results document."""

    directory: str
    need: Need
    verdict: StorageVerdict
    job_id: str | None
    mounts: dict[str, dict[str, Any] | None]

    @property
    def passed(self) -> bool:
        return self.verdict.status == "passed"

    def as_dict(self) -> dict[str, Any]:
        def gbs(value: float | None) -> float | None:
            return None if value is None else round(value / GB, 3)

        def figures(f: Any) -> dict[str, Any]:
            return {
                "write_gbs": gbs(f.write_bytes_per_s),
                "read_gbs": gbs(f.read_bytes_per_s),
                "files": f.files,
            }

        v = self.verdict
        return {
            "directory": self.directory,
            "status": v.status,
            "passed": self.passed,
            "job_id": self.job_id,
            "need": {
                "write_gbs": gbs(self.need.write_bytes_per_s),
                "read_gbs": gbs(self.need.read_bytes_per_s),
                "node_write_gbs": gbs(self.need.node_write_bytes_per_s),
                "node_read_gbs": gbs(self.need.node_read_bytes_per_s),
                "basis": self.need.basis,
                "node_basis": self.need.node_basis,
            },
            "aggregate": figures(v.aggregate),
            "nodes": {node: figures(f) for node, f in v.nodes.items()},
            "mounts": self.mounts,
            "failures": list(v.failures),
            "not_measured": list(v.not_measured),
            "shortfalls": list(v.shortfalls),
        }


def judge_storage(
    inventory: Inventory,
    directory: str,
    outputs: Mapping[str, Mapping[str, str | None]],
    job_id: str | None,
) -> StorageResult:
    """Judge what every node's job wrote (node → output key → text, None where nothing came
    back; keys as :func:`output_paths`)."""
    nodes: list[NodeStorage] = []
    mounts: dict[str, dict[str, Any] | None] = {}
    for hostname, texts in outputs.items():
        ranks = range(_gpus(inventory, hostname))
        runs = {
            kind: tuple(
                parse_fio(text) if (text := texts.get(f"{r}.{kind}")) is not None else None
                for r in ranks
            )
            for kind in KINDS
        }
        found = parse_findmnt(texts.get("findmnt") or "")
        mounted = found[0] if found else None
        mounts[hostname] = (
            {**dataclasses.asdict(mounted), "options": list(mounted.options)} if mounted else None
        )
        nodes.append(NodeStorage(hostname, runs["write"], runs["read"], mounted))
    target = storage_need(inventory)
    return StorageResult(directory, target, judge(nodes, directory, target), job_id, mounts)
