"""Can the checkpoint storage save and restore the model's checkpoint in time? (fio, parsed by
`trainbed.parse.fio`; the mount by `trainbed.parse.findmnt`.)

The storage suite's pattern is the paper's: every GPU's rank writes one file single-threaded,
all at once, then every rank reads its file back at once. A direction's bandwidth is the bytes
moved over the longest job's runtime (the save is done when its slowest writer is): per node
over that node's jobs, in aggregate over every node's.

What it is judged by (:class:`Need`): the aggregate write and read that `trainbed plan`
computes for the model (:mod:`trainbed.sizing.plan`: the checkpoint within the target time),
and a per-node floor, by default the node's GPUs each moving one checkpoint file within the
target time; ``probes.storage`` overrides both floors.

Honest about where it wrote: a figure measured anywhere but on NFS (the checkpoint mount point
not mounted, so the files went to the local disk under it) is "not measured on NFS", never a
pass and never a fault: neither its bandwidth nor its shortfall says anything about the export.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from trainbed.inventory.model import StorageProbe
from trainbed.parse.findmnt import Mounted
from trainbed.parse.fio import FioJob, FioRun
from trainbed.sizing.checkpoint import SaveLoad
from trainbed.verdicts import mismatch

#: Filesystem types that are the NFS client.
NFS_TYPES = frozenset({"nfs", "nfs4"})
GB = 1e9


@dataclass(frozen=True, slots=True)
class Need:
    """Bytes/s the storage must sustain, and where each figure comes from."""

    write_bytes_per_s: float  # aggregate: the checkpoint within the target time
    read_bytes_per_s: float  # aggregate: every data-parallel replica restoring at once
    node_write_bytes_per_s: float
    node_read_bytes_per_s: float
    basis: str
    node_basis: str


def need(save: SaveLoad, gpus_per_node: int, settings: StorageProbe, model: str) -> Need:
    """The need of `model`'s checkpoint as the plan costs it (`save`), with the node floors."""
    share = gpus_per_node * save.write_bytes_per_s_per_rank
    minutes = f"{save.seconds / 60:g} min"
    basis = (
        f"{model}: {save.writers} files, {save.write_bytes_per_s / GB:.2f} GB/s to save and "
        f"{save.read_bytes_per_s / GB:.2f} GB/s to restore within {minutes} (trainbed plan)"
    )
    node_write = share if settings.node_min_write_gbs is None else settings.node_min_write_gbs * GB
    node_read = share if settings.node_min_read_gbs is None else settings.node_min_read_gbs * GB
    if settings.node_min_write_gbs is None and settings.node_min_read_gbs is None:
        node_basis = (
            f"{gpus_per_node} GPUs × {save.write_bytes_per_s_per_rank / GB:.3f} GB/s "
            f"(one checkpoint file each within {minutes})"
        )
    else:
        node_basis = "probes.storage.node_min_write_gbs / node_min_read_gbs"
    return Need(
        save.write_bytes_per_s, save.read_bytes_per_s, node_write, node_read, basis, node_basis
    )


@dataclass(frozen=True, slots=True)
class NodeStorage:
    """What the storage job recorded on one node: per rank (one per GPU) fio's write run and
    its read run, None where the rank left no output; and the filesystem the files went to
    (``findmnt -J -T DIR``), None where it was not recorded."""

    node: str
    writes: tuple[FioRun | None, ...]
    reads: tuple[FioRun | None, ...]
    mounted: Mounted | None

    def jobs(self, kind: str) -> tuple[FioJob, ...]:
        runs = self.writes if kind == "write" else self.reads
        return tuple(job for run in runs if run for job in run.jobs)


def bandwidth(jobs: Sequence[FioJob], direction: str) -> float | None:
    """Bytes/s of `jobs` together in `direction` (bytes over the longest runtime); None when
    none of them did that direction."""
    moves = [getattr(j, direction) for j in jobs]
    done = [m for m in moves if m.done]
    if not done:
        return None
    return sum(m.io_bytes for m in done) / (max(m.runtime_ms for m in done) / 1000)


def filesystem_problem(node: str, directory: str, mounted: Mounted | None) -> str | None:
    """`gpu01 storage: not measured on NFS: /mnt/checkpoints is ext4 on /dev/vda (mounted at
    /)`, or None when `directory` is on an NFS mount."""
    what = f"{node} storage"
    if mounted is None:
        return f"{what}: not measured on NFS: findmnt recorded no filesystem for {directory}"
    if mounted.fstype in NFS_TYPES:
        return None
    where = "" if mounted.target == directory else f" (mounted at {mounted.target})"
    return (
        f"{what}: not measured on NFS: {directory} is {mounted.fstype} on {mounted.source}{where}"
    )


def _gbs(value: float | None) -> str:
    return "nothing" if value is None else f"{value / GB:.2f} GB/s"


@dataclass(frozen=True, slots=True)
class Figures:
    write_bytes_per_s: float | None
    read_bytes_per_s: float | None
    files: int  # files written


@dataclass(frozen=True, slots=True)
class StorageVerdict:
    """``status``: "passed", "failed", or "not_measured" (some node did not write to NFS, or a
    rank recorded nothing). ``failures`` fail it; ``not_measured`` says why it is neither;
    ``shortfalls`` are figures below the need that, not measured on NFS, judge nothing."""

    status: str
    aggregate: Figures
    nodes: dict[str, Figures]
    failures: tuple[str, ...] = ()
    not_measured: tuple[str, ...] = ()
    shortfalls: tuple[str, ...] = ()


def _figures(writes: Sequence[FioJob], reads: Sequence[FioJob]) -> Figures:
    return Figures(bandwidth(writes, "write"), bandwidth(reads, "read"), len(writes))


def _run_problems(
    node: str, kind: str, runs: Sequence[FioRun | None]
) -> tuple[list[str], list[str]]:
    """(failures, could-not-runs) of one node's fio runs in one direction: a job that stopped
    with an error fails; a rank with no output, or output without jobs, could not run."""
    what = f"{node} storage fio {kind}"
    failures: list[str] = []
    not_run: list[str] = []
    for rank, run in enumerate(runs):
        if run is None:
            not_run.append(f"{what} rank {rank}: could not run (no output recorded)")
        elif not run.jobs:
            why = run.error or "no jobs in the output"
            not_run.append(f"{what} rank {rank}: could not run ({why})")
        else:
            for job in run.jobs:
                if job.error:
                    failures.append(
                        mismatch(f"{what} rank {rank}", "no error", f"fio error {job.error}")
                    )
    if not runs:
        not_run.append(f"{what}: could not run (no rank recorded anything)")
    return failures, not_run


def judge(nodes: Sequence[NodeStorage], directory: str, target: Need) -> StorageVerdict:
    """The storage suite's verdict on every node's runs against `target`: failed when a job
    stopped with an error or (everything measured on NFS) a figure is below its need; else
    not measured when some node did not write to NFS or recorded nothing; else passed."""
    errors: list[str] = []
    not_measured: list[str] = []
    below: list[str] = []
    per_node: dict[str, Figures] = {}
    for n in nodes:
        for kind, runs in (("write", n.writes), ("read", n.reads)):
            failures, not_run = _run_problems(n.node, kind, runs)
            errors += failures
            not_measured += not_run
        fs = filesystem_problem(n.node, directory, n.mounted)
        if fs:
            not_measured.append(fs)
        figures = _figures(n.jobs("write"), n.jobs("read"))
        per_node[n.node] = figures
        for name, value, floor in (
            ("write", figures.write_bytes_per_s, target.node_write_bytes_per_s),
            ("read", figures.read_bytes_per_s, target.node_read_bytes_per_s),
        ):
            if value is not None and value < floor:
                below.append(
                    mismatch(f"{n.node} storage {name}", f">= {_gbs(floor)} per node", _gbs(value))
                )
    aggregate = _figures(
        [j for n in nodes for j in n.jobs("write")], [j for n in nodes for j in n.jobs("read")]
    )
    for name, value, goal in (
        ("write", aggregate.write_bytes_per_s, target.write_bytes_per_s),
        ("read", aggregate.read_bytes_per_s, target.read_bytes_per_s),
    ):
        if value is not None and value < goal:
            below.append(mismatch(f"storage aggregate {name}", f">= {_gbs(goal)}", _gbs(value)))
    if not nodes:
        not_measured.append("storage: could not run: no node recorded a run")
    if not_measured:
        failures, shortfalls = errors, below
    else:
        failures, shortfalls = errors + below, []
    status = "failed" if failures else ("not_measured" if not_measured else "passed")
    return StorageVerdict(
        status, aggregate, per_node, tuple(failures), tuple(not_measured), tuple(shortfalls)
    )
