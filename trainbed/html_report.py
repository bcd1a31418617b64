"""One self-contained HTML report of an acceptance (or a probe run): no external assets, every
chart a base64 PNG drawn with matplotlib, print CSS so it reads printed to PDF.

Sections (each an element with its id, for readers and for the browser test): ``banner``,
``inventory``, ``checks``, ``fabric``, ``nccl``, ``ib``, ``training``, ``storage``, ``versions``.
Everything comes from the documents in the report directory (``acceptance.json``, the probe's
``results.json``, its ``raw/`` NCCL logs for the bandwidth-against-size curves and its
ib_write_bw heatmaps, shown at their own size in a scrolling box), so ``trainbed report DIR`` renders it again without the cluster.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from trainbed.parse.nccl import parse_nccl
from trainbed.probes.report import HEATMAP, heatmap_names

HTML = "report.html"
#: The report's sections, in order: each an element with this id (the template's contract).
SECTIONS = (
    "banner",
    "inventory",
    "checks",
    "fabric",
    "nccl",
    "ib",
    "training",
    "storage",
    "versions",
)


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float = 7.0, height: float = 3.4) -> Any:
    # matplotlib costs ~0.35 s to import: only the report pays it, never `trainbed --help`.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def nccl_curves(
    raw: Path | None, runs: Sequence[Mapping[str, Any]]
) -> dict[str, list[tuple[int, float]]]:
    """Run name → (message bytes, out-of-place busbw GB/s) from the run's raw log, when kept."""
    curves: dict[str, list[tuple[int, float]]] = {}
    if raw is None:
        return curves
    for run in runs:
        log = raw / f"nccl-{run['name']}.out"
        if not log.is_file():
            continue
        parsed = parse_nccl(log.read_text(encoding="utf-8", errors="replace"))["runs"]
        rows = parsed[0]["rows"] if parsed else []
        points = []
        for row in rows:
            timing = row.get("out_of_place")
            busbw = timing.get("busbw_gbs") if timing else None
            if busbw is not None:
                points.append((row["size_bytes"], float(busbw)))
        if points:
            curves[run["name"]] = points
    return curves


def nccl_chart(
    results: Mapping[str, Any], curves: Mapping[str, list[tuple[int, float]]]
) -> str | None:
    """Bus bandwidth against message size per run, each run's threshold dashed."""
    if not curves:
        return None
    fig = _figure(7.5, 3.8)
    ax = fig.add_subplot()
    by_name = {v["name"]: v for v in results["nccl"]}
    for name, points in curves.items():
        (line,) = ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", label=name)
        threshold = by_name.get(name, {}).get("threshold_gbs")
        if threshold:
            ax.axhline(threshold, color=line.get_color(), linestyle="--", linewidth=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("message size (bytes)")
    ax.set_ylabel("busbw (GB/s)")
    ax.set_title("NCCL all_reduce bus bandwidth (dashed: each run's threshold)")
    ax.legend(fontsize=7, ncol=2)
    return _png(fig)


def ib_chart(results: Mapping[str, Any]) -> str | None:
    """The distribution of ib_write_bw figures, the threshold drawn."""
    values = [v["gbps"] for v in results["ib_write_bw"] if v["gbps"] is not None]
    if not values:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    ax.hist(values, bins=min(30, max(5, len(values))), color="#4477aa")
    threshold = results["thresholds"]["ib_write_bw_min_gbps"]
    ax.axvline(threshold, color="#cc3311", linestyle="--", label=f"threshold {threshold:g} Gb/s")
    ax.set_xlabel("ib_write_bw (Gb/s)")
    ax.set_ylabel("measurements")
    ax.set_title(f"ib_write_bw: {len(values)} pair × rail measurements")
    ax.legend(fontsize=8)
    return _png(fig)


def training_chart(training: Sequence[Mapping[str, Any]]) -> str | None:
    """Measured minutes per 500 steps against Table 4's expectation and the limit."""
    runs = [t for t in training if t["minutes_per_500_steps"] is not None]
    if not runs:
        return None
    fig = _figure(6.0, 3.0)
    ax = fig.add_subplot()
    labels = [f"{t['model']} {t['nodes']}n" for t in runs]
    x = range(len(runs))
    ax.bar([i - 0.2 for i in x], [t["minutes_per_500_steps"] for t in runs], 0.4, label="measured")
    ax.bar([i + 0.2 for i in x], [t["expected_minutes"] or 0 for t in runs], 0.4, label="Table 4")
    for i, t in enumerate(runs):
        if t["limit_minutes"]:
            ax.hlines(t["limit_minutes"], i - 0.45, i + 0.45, colors="#cc3311", linestyles="--")
    ax.set_xticks(list(x), labels)
    ax.set_ylabel("minutes per 500 steps")
    ax.set_title("Training against the white paper's Table 4 (dashed: limit)")
    ax.legend(fontsize=8)
    return _png(fig)


def storage_chart(storage: Mapping[str, Any] | None) -> str | None:
    """Aggregate write and read bandwidth against the model's need."""
    if not storage:
        return None
    fig = _figure(6.5, 3.2)
    ax = fig.add_subplot()
    agg, need = storage["aggregate"], storage["need"]
    measured = [agg["write_gbs"] or 0, agg["read_gbs"] or 0]
    ax.bar([-0.2, 0.8], measured, 0.4, label="measured")
    ax.bar([0.2, 1.2], [need["write_gbs"], need["read_gbs"]], 0.4, label="need (trainbed plan)")
    ax.set_xticks([0, 1], ["write (save)", "read (restore)"])
    ax.set_ylabel("GB/s, all nodes")
    status = {"not_measured": "not measured on NFS"}.get(storage["status"], storage["status"])
    ax.set_title(f"Checkpoint storage at {storage['directory']}: {status}", fontsize=10)
    ax.legend(fontsize=8)
    return _png(fig)


def heatmaps(directory: Path | None, probe: Mapping[str, Any]) -> list[dict[str, str]]:
    """The probe's heatmaps kept in ``directory`` (:func:`~trainbed.probes.report.heatmap_names`),
    each with its alt text, as data URIs; shown at their own size, so their labels stay legible."""
    found = []
    for name in heatmap_names(probe) if directory else []:
        path = directory / name if directory else None
        if path is None or not path.is_file():
            continue
        what = (
            "ib_write_bw per node and rail (best figure)"
            if name == HEATMAP
            else f"ib_write_bw node × node on {name.removeprefix('ib_write_bw_heatmap_')[:-4]}"
        )
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        found.append({"name": name, "alt": what, "src": "data:image/png;base64," + data})
    return found


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("trainbed", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["gbs"] = lambda v: "—" if v is None else f"{v:.2f} GB/s"
    env.filters["num"] = lambda v, unit="": "—" if v is None else f"{v:g} {unit}".strip()
    return env


def render_html(
    probe: Mapping[str, Any] | None,
    acceptance: Mapping[str, Any] | None = None,
    probe_dir: Path | None = None,
) -> str:
    """The report as one HTML document. ``probe_dir`` holds the probe's raw logs and heatmap."""
    if probe is None and acceptance is None:
        raise ValueError("nothing to report")
    if acceptance is not None:
        passed = bool(acceptance["accepted"])
        verdict = "ACCEPTED" if passed else "NOT ACCEPTED"
        reasons = list(acceptance["reasons"])
        caveats = list(acceptance["caveats"])
        cluster = acceptance["cluster"]
    else:
        assert probe is not None
        passed = bool(probe["passed"])
        verdict = "PASSED" if passed else "FAILED"
        reasons = [
            f"{f['kind']}: {f.get('node') or ', '.join(f.get('nodes') or [])}"
            f"{' ' + f['hca'] if f.get('hca') else ''}: {f['evidence']}"
            for f in probe["findings"]
        ]
        reasons += [f"not measured: {m}" for m in probe["missing"]]
        storage = probe.get("storage")
        caveats = list(storage["not_measured"]) if storage else []
        cluster = probe["cluster"]
    raw = probe_dir / "raw" if probe_dir else None
    charts: dict[str, str | None] = {}
    maps: list[dict[str, str]] = []
    if probe is not None:
        maps = heatmaps(probe_dir, probe)
        charts = {
            "nccl": nccl_chart(probe, nccl_curves(raw, probe["nccl"])),
            "ib": ib_chart(probe),
            "training": training_chart(probe.get("training", [])),
            "storage": storage_chart(probe.get("storage")),
        }
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            cluster=cluster,
            passed=passed,
            verdict=verdict,
            reasons=reasons,
            caveats=caveats,
            acceptance=acceptance,
            probe=probe,
            charts=charts,
            heatmaps=maps,
        )
    )


def write_html(
    out_dir: str | Path,
    probe: Mapping[str, Any] | None,
    acceptance: Mapping[str, Any] | None = None,
    probe_dir: Path | None = None,
) -> Path:
    """Write ``report.html`` to ``out_dir``; its path."""
    path = Path(out_dir) / HTML
    path.write_text(render_html(probe, acceptance, probe_dir), encoding="utf-8")
    return path
