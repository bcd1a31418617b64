"""Judge parsed probe output against the thresholds: one verdict per NCCL run and per pair × rail.

Inputs are the parsers' dicts (``trainbed.parse.nccl.Run``, ``trainbed.parse.perftest.Run``), the
schedule's NCCL entry, and optionally the Slurm :class:`~trainbed.probes.jobs.Job` that ran it.
Nothing here raises on bad input: missing or broken output is a failing verdict with a reason.

The NCCL figure is the **median** of every bus-bandwidth value (out-of-place and in-place) of the
rows with a message size ≥ ``large_message_bytes``. Not the peak: one good row would hide a link
that sags. Not the minimum: bandwidth still rises with size past 1 GiB, so the minimum is always
the smallest large row and the verdict would hinge on one noisy sample and on where the sweep
starts. The median is robust to one outlier on either side.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from trainbed.probes.jobs import Job
from trainbed.probes.thresholds import CEILING_TOLERANCE, ProbeThresholds
from trainbed.verdicts.latency import judge as judge_latency
from trainbed.verdicts.latency import measured_run

STATISTIC = "median"

# Diagnoses of a failing NCCL run, most specific first; the verdict carries the first that applies.
JOB_FAILED = "job_failed"
NO_OUTPUT = "no_output"
FABRIC_MANAGER = "fabric_manager"
GPU_MISSING = "gpu_missing"
GPU_BUSY = "gpu_busy"
CORRUPTION = "corruption"
UNFINISHED = "unfinished"
NO_LARGE_MESSAGES = "no_large_messages"
NVLS_OFF = "nvls_off"
NOT_RING = "not_ring"
SLOW = "slow"

# Parser error text → (diagnosis, explanation). Matched case-insensitively as substrings.
_ERROR_CAUSES: tuple[tuple[str, str, str], ...] = (
    (
        "system not yet initialized",
        FABRIC_MANAGER,
        "CUDA reports 'system not yet initialized': nvidia-fabricmanager is not running "
        "(an NVSwitch node needs it)",
    ),
    ("invalid device ordinal", GPU_MISSING, "a GPU is missing or not visible to CUDA"),
    ("no cuda-capable device", GPU_MISSING, "no GPU is visible to CUDA"),
    (
        "busy or unavailable",
        GPU_BUSY,
        "a GPU is busy or unavailable (another process, exclusive compute mode, or a GPU fault)",
    ),
)


@dataclass(frozen=True, slots=True)
class NcclVerdict:
    """The verdict on one scheduled NCCL all_reduce run.

    ``busbw_gbs``: the median large-message bus bandwidth (None when none was measured);
    ``threshold_gbs``: the minimum it had to reach (None: judged on correctness only);
    ``reasons``: why it failed (empty when it passed); ``notes``: what else a reader should know.
    """

    name: str
    nodes: tuple[str, ...]
    kind: str
    busbw_gbs: float | None
    threshold_gbs: float | None
    passed: bool
    reasons: tuple[str, ...] = ()
    diagnosis: str | None = None
    notes: tuple[str, ...] = ()
    peak_busbw_gbs: float | None = None
    samples: int = 0
    ranks: int | None = None
    job_id: str | None = None
    statistic: str = STATISTIC

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("nodes", "reasons", "notes"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NcclVerdict:
        fields = {**data}
        for key in ("nodes", "reasons", "notes"):
            fields[key] = tuple(fields.get(key, ()))
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class IbVerdict:
    """The verdict on one ib_write_bw measurement: ``node_a``'s HCA to ``node_b``'s on ``rail``."""

    round: int
    node_a: str
    node_b: str
    rail: str
    hca_a: str | None
    hca_b: str | None
    gbps: float | None
    threshold_gbps: float
    passed: bool
    reason: str | None = None
    job_id: str | None = None
    #: ib_write_lat in the same round (µs); ``lat_passed`` None: latency was not measured.
    lat_typical_us: float | None = None
    lat_p99_us: float | None = None
    lat_p999_us: float | None = None
    lat_passed: bool | None = None
    lat_p99_max_us: float | None = None

    @property
    def pair(self) -> tuple[str, str]:
        return (self.node_a, self.node_b)

    @property
    def latency_only(self) -> bool:
        """It failed on its latency alone: its bandwidth reached the threshold."""
        return (
            self.lat_passed is False and self.gbps is not None and self.gbps >= self.threshold_gbps
        )

    def figure(self) -> str:
        """The figure that failed it, for evidence: ``300.00 Gb/s``, ``p99 9.50 µs``, else its
        reason."""
        if self.latency_only:
            return (
                f"p99 {self.lat_p99_us:.2f} µs" if self.lat_p99_us is not None else str(self.reason)
            )
        return f"{self.gbps:.2f} Gb/s" if self.gbps is not None else (self.reason or "failed")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IbVerdict:
        return cls(**data)


def large_message_busbw(run: Mapping[str, Any], min_bytes: int) -> list[float]:
    """Every bus-bandwidth figure (both placements) of the rows with size ≥ ``min_bytes``."""
    values: list[float] = []
    for row in run.get("rows", ()):
        if row["size_bytes"] < min_bytes:
            continue
        for placement in ("out_of_place", "in_place"):
            timing = row.get(placement)
            if timing is not None:
                values.append(float(timing["busbw_gbs"]))
    return values


def _cause_of(errors: Sequence[str]) -> tuple[str, str] | None:
    text = "\n".join(errors).lower()
    for needle, diagnosis, explanation in _ERROR_CAUSES:
        if needle in text:
            return diagnosis, explanation
    return None


def _fmt(value: float) -> str:
    return f"{value:.2f}"


@dataclass(slots=True)
class _Assessment:
    busbw: float | None = None
    peak: float | None = None
    samples: int = 0
    ranks: int | None = None
    threshold: float | None = None
    reasons: list[str] = field(default_factory=list)
    diagnoses: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def fail(self, diagnosis: str, reason: str) -> None:
        self.diagnoses.append(diagnosis)
        self.reasons.append(reason)


def _assess_run(
    run: Mapping[str, Any],
    kind: str,
    nodes: Sequence[str],
    env: Mapping[str, str],
    thresholds: ProbeThresholds,
) -> _Assessment:
    a = _Assessment()
    a.peak = run.get("peak_busbw_gbs")
    a.ranks = run.get("ranks")
    errors = list(run.get("errors", ()))

    cause = _cause_of(errors)
    if cause:
        a.fail(*cause)
    wrong, oob = run.get("wrong_total") or 0, run.get("out_of_bounds") or 0
    if wrong:
        a.fail(CORRUPTION, f"#wrong = {wrong}: all_reduce returned wrong data")
    if oob:
        a.fail(CORRUPTION, f"out of bounds values: {oob}")
    gates = [thresholds.single(node) for node in nodes]
    expected_ranks = sum(g.gpus for g in gates) if all(g.gpus for g in gates) else None
    if a.ranks is not None and expected_ranks and a.ranks < expected_ranks:
        a.fail(
            GPU_MISSING,
            f"{a.ranks} ranks took part, expected {expected_ranks} (one per GPU): a GPU is missing or was not allocated",
        )
    if not run.get("ok", False) and not (cause or wrong or oob):
        # Nothing more specific explains it: pass the parser's own errors on.
        a.fail(UNFINISHED, "run failed: " + "; ".join(errors) if errors else "run did not finish")

    values = large_message_busbw(run, thresholds.large_message_bytes)
    a.samples = len(values)
    if values:
        a.busbw = round(statistics.median(values), 2)
    elif run.get("rows"):
        largest = max(row["size_bytes"] for row in run["rows"])
        a.fail(
            NO_LARGE_MESSAGES,
            f"no message size ≥ {thresholds.large_message_bytes} bytes (largest {largest}): "
            "run all_reduce_perf with -e 8G",
        )
    elif not a.reasons:
        a.fail(UNFINISHED, "no result rows")

    if kind == "single":
        gate = thresholds.single(nodes[0])
        a.threshold = gate.min_busbw_gbs
        if gate.min_busbw_gbs is None:
            a.notes.append(gate.basis)
        elif a.busbw is not None and a.busbw < gate.min_busbw_gbs:
            expected = f"median busbw {_fmt(a.busbw)} GB/s < {gate.min_busbw_gbs:g} GB/s"
            if gate.nvls_off(a.busbw):
                a.fail(
                    NVLS_OFF,
                    f"{expected}: NVLS not in use (~{gate.no_nvls_busbw_gbs:g} GB/s is the "
                    "NVLink figure without NVLS; check NCCL_NVLS_ENABLE, fabric manager, driver)",
                )
            else:
                a.fail(SLOW, expected)
    else:
        a.threshold = thresholds.multi_node_min_busbw_gbs
        ceiling = thresholds.multi_node_ceiling_gbs
        ring = env.get("NCCL_ALGO", "").lower() == "ring"
        if a.busbw is not None and a.busbw < a.threshold:
            a.fail(SLOW, f"median busbw {_fmt(a.busbw)} GB/s < {a.threshold:g} GB/s")
        if a.busbw is not None and a.busbw > ceiling * CEILING_TOLERANCE:
            above = (
                f"median busbw {_fmt(a.busbw)} GB/s is above the {ceiling:g} GB/s network ceiling"
            )
            if ring:
                a.fail(
                    NOT_RING,
                    f"{above}: NCCL_ALGO=Ring was not in effect, so this run cannot vouch "
                    "for every rail",
                )
            else:
                a.notes.append(f"{above} (tree or NVLS-SHARP reads high on few nodes)")
    return a


def judge_nccl(
    spec: Mapping[str, Any],
    runs: Sequence[Mapping[str, Any]],
    thresholds: ProbeThresholds,
    job: Job | None = None,
) -> NcclVerdict:
    """Judge the parsed ``runs`` of the schedule entry ``spec`` (``name``, ``nodes``, ``kind``, ``env``).

    One run is expected; with several (non-MPI tasks sharing one output) every one must pass and
    the lowest figure is reported. No run at all fails, with the job's state when it is known.
    """
    name, nodes = spec["name"], tuple(spec["nodes"])
    kind = spec.get("kind") or ("single" if len(nodes) == 1 else "group")
    env = spec.get("env") or {}
    job_id = job.job_id if job else None
    if not runs:
        if job is not None and not job.completed:
            reason, diagnosis = job.describe(), JOB_FAILED
        else:
            reason, diagnosis = "no nccl-tests output", NO_OUTPUT
        threshold = (
            thresholds.single(nodes[0]).min_busbw_gbs
            if kind == "single"
            else thresholds.multi_node_min_busbw_gbs
        )
        return NcclVerdict(
            name, nodes, kind, None, threshold, False, (reason,), diagnosis, job_id=job_id
        )

    parts = [_assess_run(run, kind, nodes, env, thresholds) for run in runs]
    reasons: list[str] = []
    notes: list[str] = []
    diagnoses: list[str] = []
    for index, part in enumerate(parts, start=1):
        prefix = f"run {index}: " if len(parts) > 1 else ""
        reasons += [prefix + r for r in part.reasons]
        notes += [prefix + n for n in part.notes if prefix + n not in notes]
        diagnoses += part.diagnoses
    if job is not None and not job.completed:
        reasons.append(job.describe())
        diagnoses.append(JOB_FAILED)
    measured = [p.busbw for p in parts if p.busbw is not None]
    peaks = [p.peak for p in parts if p.peak is not None]
    return NcclVerdict(
        name=name,
        nodes=nodes,
        kind=kind,
        busbw_gbs=min(measured) if measured else None,
        threshold_gbs=parts[0].threshold,
        passed=not reasons,
        reasons=tuple(reasons),
        diagnosis=diagnoses[0] if diagnoses else None,
        notes=tuple(dict.fromkeys(notes)),
        peak_busbw_gbs=max(peaks) if peaks else None,
        samples=min(p.samples for p in parts),
        ranks=parts[0].ranks,
        job_id=job_id,
    )


def judge_ib_write_bw(
    *,
    round: int,
    node_a: str,
    node_b: str,
    rail: str,
    hca_a: str | None,
    hca_b: str | None,
    runs: Sequence[Mapping[str, Any]],
    thresholds: ProbeThresholds,
    job: Job | None = None,
) -> IbVerdict:
    """Judge one pair on one rail from the parsed ib_write_bw output (client side preferred).

    The figure is the parser's ``bw_avg_gbps`` (average of the largest message size), in Gb/s.
    """
    threshold = thresholds.ib_write_bw_min_gbps
    job_id = job.job_id if job else None
    run = measured_run(runs, "bw_avg_gbps")

    def verdict(gbps: float | None, reason: str | None) -> IbVerdict:
        return IbVerdict(
            round,
            node_a,
            node_b,
            rail,
            hca_a,
            hca_b,
            gbps,
            threshold,
            reason is None,
            reason,
            job_id,
        )

    if run is None:
        return verdict(
            None, job.describe() if job and not job.completed else "no ib_write_bw output"
        )
    gbps = run.get("bw_avg_gbps")
    if not run.get("ok", False) or gbps is None:
        errors = "; ".join(run.get("errors", ())) or "no result"
        if job is not None and not job.completed:
            errors = f"{errors} ({job.describe()})"
        return verdict(gbps, f"ib_write_bw failed: {errors}")
    if gbps < threshold:
        return verdict(
            gbps, f"{gbps:.2f} Gb/s < {threshold:g} Gb/s ({thresholds.ib_write_bw_basis})"
        )
    return verdict(gbps, None)


def with_latency(
    verdict: IbVerdict, lat_runs: Sequence[Mapping[str, Any]], thresholds: ProbeThresholds
) -> IbVerdict:
    """``verdict`` with the pair's latency (``lat_runs``: parsed ib_write_lat output) judged by
    :func:`trainbed.verdicts.latency.judge` against ``ib_write_lat_p99_max_us``: a pair over it
    fails with that reason when its bandwidth passed (a pair failing both keeps the bandwidth
    reason, ``lat_passed`` False); output that could not be judged leaves ``verdict`` as it is
    (``lat_passed`` None: not measured)."""
    what = f"{verdict.node_a} {verdict.hca_a or '?'} ↔ {verdict.node_b} {verdict.hca_b or '?'}"
    latency = judge_latency(what, lat_runs, thresholds.ib_write_lat_p99_max_us)
    if not latency.measured:
        return verdict  # latency could not be judged: the pair stands on its bandwidth alone
    return replace(
        verdict,
        passed=verdict.passed and latency.passed,
        reason=verdict.reason or latency.problem,
        lat_typical_us=latency.typical_us,
        lat_p99_us=latency.p99_us,
        lat_p999_us=latency.p999_us,
        lat_passed=latency.passed,
        lat_p99_max_us=latency.p99_max_us,
    )


def failing_bar(verdicts: Sequence[IbVerdict]) -> str:
    """What the failing ``verdicts`` missed: ``below 360 Gb/s``, ``over the 4.2 µs ib_write_lat
    p99 bar``, or both joined by "or"."""
    bandwidth = [v for v in verdicts if not v.latency_only]
    latency = [v for v in verdicts if v.latency_only]
    parts = [f"below {bandwidth[0].threshold_gbps:g} Gb/s"] if bandwidth else []
    if latency:
        bar = latency[0].lat_p99_max_us
        parts.append(f"over the {bar:g} µs ib_write_lat p99 bar" if bar else "failing ib_write_lat")
    return " or ".join(parts)
