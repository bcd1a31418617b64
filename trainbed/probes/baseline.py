"""Fleet baselines: what this cluster measures when healthy, and the runs that fall below it. Pure.

:func:`build_baseline` takes the results documents of passing runs and keeps, per measurement kind
and size, the median and the MAD (median absolute deviation) of every passing figure: ib_write_bw
Gb/s (size 2, a pair on one rail) and NCCL all_reduce median bus bandwidth (size: the run's nodes).
:func:`judge_against` scores each figure of a run by its robust z, (x − median) / σ with
σ = max(1.4826 × MAD, 0.5 % of the median) (Together's published floor: a fleet too uniform does
not make 0.1 % noise an outlier), and flags z < −2 ``suspect`` and z < −5 ``severe``. This catches
what an absolute bar passes: a node 5 % slow on a cluster whose spread is 0.5 % has z ≈ −10.

The ib_write_bw outliers are localised like quick-mode failures
(:func:`trainbed.probes.matching.localise_rounds`, which is sound on the full suite's matrix as
well): a slow HCA is slow with every partner, so it, not its partners, is named. A slow single-node
NCCL run names its node; a slow multi-node run no single-node run explains is ``ambiguous``.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from trainbed.errors import TrainbedError
from trainbed.probes.judge import IbVerdict
from trainbed.probes.localise import AMBIGUOUS, NODE, Finding
from trainbed.probes.matching import localise_rounds

BASELINE_VERSION = 1
SUSPECT_Z = -2.0
SEVERE_Z = -5.0
#: σ floor as a fraction of the median.
SIGMA_FLOOR = 0.005
#: MAD × this estimates σ for normally distributed figures.
MAD_SCALE = 1.4826
IB = "ib_write_bw"


class BaselineError(TrainbedError):
    """No passing run to build from, or a baseline document that is not one."""


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure of a run: ``kind`` ``ib_write_bw`` or ``nccl-<kind>``."""

    kind: str
    size: int
    value: float
    label: str
    nodes: tuple[str, ...]
    rail: str | None = None


@dataclass(frozen=True, slots=True)
class Reference:
    kind: str
    size: int
    median: float
    mad: float
    samples: int

    @property
    def sigma(self) -> float:
        return max(MAD_SCALE * self.mad, SIGMA_FLOOR * self.median)

    def z(self, value: float) -> float:
        return (value - self.median) / self.sigma


@dataclass(frozen=True, slots=True)
class Outlier:
    figure: Figure
    reference: Reference
    z: float

    @property
    def level(self) -> str:
        return "severe" if self.z < SEVERE_Z else "suspect"

    def as_dict(self) -> dict[str, Any]:
        return {
            "measurement": self.figure.label,
            "kind": self.figure.kind,
            "size": self.figure.size,
            "nodes": list(self.figure.nodes),
            "rail": self.figure.rail,
            "value": self.figure.value,
            "median": self.reference.median,
            "sigma": round(self.reference.sigma, 4),
            "z": round(self.z, 2),
            "level": self.level,
        }


def figures(results: Mapping[str, Any]) -> list[Figure]:
    """Every passing figure of a results document (a failed one is the absolute judge's)."""
    found = [
        Figure(
            IB,
            2,
            float(v["gbps"]),
            f"ib_write_bw {v['node_a']}–{v['node_b']} {v['rail']}",
            (v["node_a"], v["node_b"]),
            v["rail"],
        )
        for v in results.get("ib_write_bw", ())
        if v["passed"] and v.get("gbps") is not None
    ]
    found += [
        Figure(
            f"nccl-{v['kind']}",
            len(v["nodes"]),
            float(v["busbw_gbs"]),
            f"nccl {v['name']}",
            tuple(v["nodes"]),
        )
        for v in results.get("nccl", ())
        if v["passed"] and v.get("busbw_gbs") is not None
    ]
    return found


def build_baseline(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The baseline document of the passing, complete ``runs`` (one cluster's)."""
    passing = [r for r in runs if r.get("passed") and not r.get("incomplete")]
    if not passing:
        raise BaselineError("no passing, complete run among the results given")
    clusters = sorted({r["cluster"] for r in passing})
    if len(clusters) > 1:
        raise BaselineError(f"results of several clusters: {', '.join(clusters)}")
    values: dict[tuple[str, int], list[float]] = {}
    for run in passing:
        for fig in figures(run):
            values.setdefault((fig.kind, fig.size), []).append(fig.value)
    references = []
    for (kind, size), xs in sorted(values.items()):
        median = statistics.median(xs)
        mad = statistics.median(abs(x - median) for x in xs)
        references.append(asdict(Reference(kind, size, median, mad, len(xs))))
    return {
        "baseline_version": BASELINE_VERSION,
        "cluster": clusters[0],
        "runs": [r.get("started") for r in passing],
        "references": references,
    }


def references(baseline: Mapping[str, Any]) -> dict[tuple[str, int], Reference]:
    """The baseline document's references by (kind, size); ``BaselineError`` if it is not one."""
    if baseline.get("baseline_version") != BASELINE_VERSION:
        raise BaselineError("not a trainbed baseline (baseline_version 1)")
    try:
        refs = [Reference(**r) for r in baseline["references"]]
    except (KeyError, TypeError) as err:
        raise BaselineError(f"malformed baseline reference: {err}") from None
    return {(r.kind, r.size): r for r in refs}


def outliers(results: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[Outlier]:
    """The run's figures with robust z below :data:`SUSPECT_Z`, worst first."""
    refs = references(baseline)
    found = []
    for fig in figures(results):
        ref = refs.get((fig.kind, fig.size))
        if ref is None:
            continue
        z = ref.z(fig.value)
        if z < SUSPECT_Z:
            found.append(Outlier(fig, ref, z))
    return sorted(found, key=lambda o: o.z)


def below_baseline(verdicts: Sequence[IbVerdict], baseline: Mapping[str, Any]) -> list[IbVerdict]:
    """``verdicts`` with each passing pair whose Gb/s is a baseline outlier (robust z below
    :data:`SUSPECT_Z`) marked failing: what quick mode plans its next round from, so a port a
    few percent slow is re-paired with known-good partners and named like a failed one."""
    ref = references(baseline).get((IB, 2))
    if ref is None:
        return list(verdicts)
    return [
        replace(v, passed=False)
        if v.passed and v.gbps is not None and ref.z(v.gbps) < SUSPECT_Z
        else v
        for v in verdicts
    ]


def _ib_findings(results: Mapping[str, Any], found: Sequence[Outlier]) -> list[Finding]:
    """Localise the ib_write_bw outliers: every passing pair × rail as a verdict, an outlier failing."""
    low = {(frozenset(o.figure.nodes), o.figure.rail): o for o in found if o.figure.kind == IB}
    if not low:
        return []
    bar = next(iter(low.values())).reference
    verdicts = []
    for v in results.get("ib_write_bw", ()):
        if not v["passed"] or v.get("gbps") is None:
            continue
        outlier = low.get((frozenset((v["node_a"], v["node_b"])), v["rail"]))
        verdict = IbVerdict.from_dict(v)
        verdicts.append(
            replace(
                verdict,
                passed=outlier is None,
                threshold_gbps=round(bar.median + SUSPECT_Z * bar.sigma, 2),
            )
        )
    findings = []
    for f in localise_rounds(verdicts):
        zs = [
            o.z
            for o in low.values()
            if set(f.nodes) & set(o.figure.nodes) and f.rail in (None, o.figure.rail)
        ]
        level = "severe" if zs and min(zs) < SEVERE_Z else "suspect"
        worst = f"{min(zs):.1f}" if zs else "?"
        prefix = (
            f"baseline {level} (robust z {worst}; median {bar.median:g} Gb/s, σ {bar.sigma:.2f}, "
            f"suspect below z {SUSPECT_Z:g}): "
        )
        findings.append(replace(f, evidence=prefix + f.evidence))
    return findings


def _nccl_findings(found: Sequence[Outlier], named: Iterable[str]) -> list[Finding]:
    taken = set(named)
    findings = []
    for o in (o for o in found if o.figure.kind != IB):
        fig, ref = o.figure, o.reference
        evidence = (
            f"baseline {o.level}: {fig.label} {fig.value:g} GB/s, robust z {o.z:.1f} against "
            f"median {ref.median:g} GB/s (σ {ref.sigma:.2f}, {ref.samples} sample(s))"
        )
        if fig.size == 1:
            findings.append(
                Finding(NODE, fig.nodes[0], None, None, None, evidence, nodes=fig.nodes)
            )
            taken.add(fig.nodes[0])
        elif not taken & set(fig.nodes):
            findings.append(Finding(AMBIGUOUS, None, None, None, None, evidence, nodes=fig.nodes))
    return findings


def judge_against(
    results: Mapping[str, Any], baseline: Mapping[str, Any], file: str
) -> dict[str, Any]:
    """The run judged against ``baseline`` (read from ``file``): its outliers and the findings
    they localise to, as the results document's ``baseline`` block."""
    found = outliers(results, baseline)
    ib = _ib_findings(results, found)
    named = [n for f in ib if f.kind != AMBIGUOUS for n in f.nodes]
    if baseline.get("cluster") != results["cluster"]:
        raise BaselineError(
            f"{file}: the baseline of {baseline.get('cluster')!r}, not of {results['cluster']!r}"
        )
    return {
        "file": file,
        "cluster": baseline["cluster"],
        "suspect_z": SUSPECT_Z,
        "severe_z": SEVERE_Z,
        "outliers": [o.as_dict() for o in found],
        "findings": [f.as_dict() for f in [*ib, *_nccl_findings(found, named)]],
    }
