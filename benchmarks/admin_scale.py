"""The admin side from 64 to 4,096 nodes: ``python benchmarks/admin_scale.py [--quick]``.

For each size N (``trainbed init --compute-nodes N --network-config 1`` inventories) it times, as
whole processes, with their peak memory (the child's maximum RSS):

* validate — ``trainbed validate``, beside a bare ``yaml.load(CSafeLoader)`` of the same file;
* render — ``trainbed render --out`` (every host's files and catalog);
* probe plan — ``trainbed probe plan --json`` (and its output's size);
* deploy plan — the production deploy planned against pyinfra ``@fake`` hosts
  (tests/fixtures/pyinfra/plan.py), with operations and commands per compute node;
* checks — the acceptance suite over a counting fake remote (benchmarks/counting_remote.py: every
  command answered with exit 0 and no output, so most checks fail; ``--tb=no``), with the round
  trips per compute node;

then fits each measure's growth exponent (time ∝ N^k, least squares on log-log; goal k ≤ 1.15)
and prints the ratios: validate against the bare load (goal ≤ 3x), ``trainbed --help`` against
``python -c pass`` (goal ≤ 0.15 s). Medians of ``--runs`` runs where a run takes under 10 s,
else one run. On a 2-core machine the default takes 10-13 minutes: the deploy plan and the
checks stop at ``--deploy-max`` and ``--checks-max`` (256) nodes, the slowest per node;
``--quick`` measures 64 and 256 nodes only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
#: A measure whose first run takes longer is run once.
REPEAT_UNDER_S = 10.0
KEYS = ("cuda-archive-keyring.gpg", "doca.asc", "site-slurm.asc")


@dataclass
class Sample:
    seconds: float
    peak_mib: float
    extra: dict[str, float] = field(default_factory=dict)


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
    return {**os.environ, "PYTHONPATH": path}


def run(argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> Sample:
    """Wall time and peak RSS of one process (its output to a file: a pipe would time the reader)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env or _env(), stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        sample = Sample(seconds, usage.ru_maxrss / 1024, {"bytes": float(len(out.read()))})
        if proc.returncode not in (0, 1):
            sys.exit(f"{' '.join(argv)} failed ({proc.returncode}):\n{err.read()[-3000:]!r}")
    return sample


def repeat(measure: Callable[[], Sample], runs: int) -> Sample:
    """The median run (by time) of up to `runs`; one run when the first is slow."""
    samples = [measure()]
    while len(samples) < runs and samples[0].seconds < REPEAT_UNDER_S:
        samples.append(measure())
    samples.sort(key=lambda s: s.seconds)
    return samples[len(samples) // 2]


def site(tmp: Path, n: int) -> Path:
    """A directory with the N-node inventory and the repository keys it names."""
    path = tmp / f"n{n}"
    (path / "keys").mkdir(parents=True, exist_ok=True)
    for key in KEYS:
        (path / "keys" / key).write_text(f"public key {key}\n")
    text = subprocess.run(
        [PY, "-m", "trainbed", "init", "--compute-nodes", str(n), "--network-config", "1"],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
        cwd=tmp,
    ).stdout
    (path / "inventory.yaml").write_text(text)
    return path / "inventory.yaml"


def measure_validate(inv: Path, runs: int) -> tuple[Sample, Sample]:
    bare = f"import yaml; yaml.load(open({str(inv)!r}), Loader=yaml.CSafeLoader)"
    pairs = [
        (
            run([PY, "-c", bare], inv.parent),
            run([PY, "-m", "trainbed", "validate", str(inv)], inv.parent),
        )
        for _ in range(runs)
    ]  # alternated, so drift hits both alike
    return (
        sorted((p[0] for p in pairs), key=lambda s: s.seconds)[runs // 2],
        sorted((p[1] for p in pairs), key=lambda s: s.seconds)[runs // 2],
    )


def measure_render(inv: Path, runs: int) -> Sample:
    out = inv.parent / "rendered"

    def once() -> Sample:
        shutil.rmtree(out, ignore_errors=True)
        return run([PY, "-m", "trainbed", "render", str(inv), "--out", str(out)], inv.parent)

    sample = repeat(once, runs)
    shutil.rmtree(out, ignore_errors=True)
    return sample


def measure_probe_plan(inv: Path, runs: int) -> Sample:
    return repeat(
        lambda: run([PY, "-m", "trainbed", "probe", "plan", str(inv), "--json"], inv.parent), runs
    )


def measure_deploy(inv: Path, runs: int) -> Sample:
    plan_json, plan_log = inv.parent / "plan.json", inv.parent / "plan.log"
    env = {**_env(), "TRAINBED_INVENTORY": str(inv), "TRAINBED_SLURMDBD_PASSWORD": "benchmark"}
    planner = ROOT / "tests" / "fixtures" / "pyinfra" / "plan.py"
    fake = ROOT / "tests" / "fixtures" / "pyinfra" / "fake_prod.py"
    script = (
        "import subprocess, sys; "
        f"out, err = open({str(plan_json)!r}, 'w'), open({str(plan_log)!r}, 'w'); "
        f"sys.exit(subprocess.run([sys.executable, {str(planner)!r}, {str(fake)!r}, "
        "'deploy/cluster.py'], stdout=out, stderr=err).returncode)"
    )
    sample = repeat(lambda: run([PY, "-c", script], ROOT, env), runs)
    plan = json.loads(plan_json.read_text())
    if plan["failed"]:
        sys.exit(f"the deploy plan failed on {plan['failed'][:5]}")
    per_host: dict[str, list[int]] = {}
    for op in plan["ops"]:
        for host, commands in op["hosts"].items():
            counts = per_host.setdefault(host, [0, 0])
            counts[0] += 1
            counts[1] += len(commands)
    compute = [c for h, c in per_host.items() if h.startswith("gpu")]
    sample.extra["ops"] = statistics.median(c[0] for c in compute)
    sample.extra["commands"] = statistics.median(c[1] for c in compute)
    facts: dict[str, int] = {}
    for line in plan_log.read_text().splitlines():
        if "Loaded fact" in line and "[@fake/gpu" in line:
            host = line.split("[@fake/", 1)[1].split("]", 1)[0]
            facts[host] = facts.get(host, 0) + 1
    sample.extra["facts"] = statistics.median(facts.values()) if facts else 0.0
    return sample


def measure_checks(inv: Path, runs: int) -> Sample:
    counts = inv.parent / "counts.json"
    argv = [
        PY, "-m", "pytest", str(ROOT / "trainbed" / "checks"), "--rootdir", str(ROOT / "trainbed"),
        "-p", "trainbed.checks.plugin", "-p", "benchmarks.counting_remote",
        "--inventory", str(inv), "--count-out", str(counts),
        "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-q", "--tb=no",
    ]  # fmt: skip
    sample = repeat(lambda: run(argv, ROOT), runs)
    sent = json.loads(counts.read_text())
    sample.extra["round_trips"] = statistics.median(
        len(c) for h, c in sent.items() if h.startswith("gpu")
    )
    return sample


def exponent(points: Sequence[tuple[int, float]]) -> float | None:
    """k of time ∝ N^k, least squares on log-log (None with fewer than two sizes)."""
    if len(points) < 2:
        return None
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(max(t, 1e-6)) for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def startup(runs: int) -> tuple[float, float]:
    """Medians of `python -c pass` and `trainbed --help`, alternated."""
    base, cli = [], []
    for _ in range(max(runs, 5) * 2):
        base.append(run([PY, "-c", "pass"], Path(tempfile.gettempdir())).seconds)
        cli.append(run([PY, "-m", "trainbed", "--help"], Path(tempfile.gettempdir())).seconds)
    return statistics.median(base), statistics.median(cli)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,256,1024,4096", help="compute node counts")
    parser.add_argument("--quick", action="store_true", help="64 and 256 nodes only")
    parser.add_argument("--runs", type=int, default=3, help="runs per measure (median)")
    parser.add_argument(
        "--deploy-max", type=int, default=256, help="largest N to plan the deploy for"
    )
    parser.add_argument(
        "--checks-max", type=int, default=256, help="largest N to run the checks for"
    )
    args = parser.parse_args()
    sizes = [64, 256] if args.quick else [int(s) for s in args.sizes.split(",")]
    table: dict[str, dict[int, Sample]] = {
        k: {} for k in ("yaml.load", "validate", "render", "probe plan", "deploy plan", "checks")
    }
    with tempfile.TemporaryDirectory(prefix="trainbed-scale-") as tmp:
        for n in sizes:
            inv = site(Path(tmp), n)
            bare, full = measure_validate(inv, args.runs)
            table["yaml.load"][n], table["validate"][n] = bare, full
            table["render"][n] = measure_render(inv, args.runs)
            table["probe plan"][n] = measure_probe_plan(inv, args.runs)
            if n <= args.deploy_max:
                table["deploy plan"][n] = measure_deploy(inv, args.runs)
            if n <= args.checks_max:
                table["checks"][n] = measure_checks(inv, args.runs)
            print(f"  measured N = {n}", file=sys.stderr, flush=True)
    base, cli = startup(args.runs)

    print(f"admin side at scale; medians of up to {args.runs} runs; time s / peak MiB")
    header = f"{'N':>6}" + "".join(f"  {name:>20}" for name in table)
    print(header)
    for n in sizes:
        cells = [
            f"{s.seconds:8.2f} s {s.peak_mib:6.0f} M" if (s := table[name].get(n)) else f"{'-':>20}"
            for name in table
        ]
        print(f"{n:>6}" + "".join(f"  {c:>20}" for c in cells))
    print(
        f"{'k':>6}"
        + "".join(
            f"  {'' if (k := exponent([(n, s.seconds) for n, s in table[name].items()])) is None else f'{k:.2f}':>20}"
            for name in table
        )
        + "   (time ∝ N^k; goal k ≤ 1.15)"
    )
    print()
    for n in sizes:
        ratio = table["validate"][n].seconds / table["yaml.load"][n].seconds
        print(f"validate / bare yaml.load at {n:>5}: {ratio:5.2f}x  (goal ≤ 3x)")
    for n, s in table["probe plan"].items():
        print(f"probe plan --json at {n:>5}: {s.extra['bytes'] / 1e6:6.2f} MB of output")
    for n, s in table["deploy plan"].items():
        print(
            f"deploy plan at {n:>5}: {s.extra['ops']:.0f} operations, {s.extra['facts']:.0f} facts, "
            f"{s.extra['commands']:.0f} commands per compute node, "
            f"{s.seconds / (n + 3) * 1000:.0f} ms per host"
        )
    for n, s in table["checks"].items():
        print(
            f"checks at {n:>5}: {s.extra['round_trips']:.0f} round trips per compute node (goal ≤ 10)"
        )
    print(f"trainbed --help {cli:.3f} s against python -c pass {base:.3f} s (goal ≤ 0.15 s)")


if __name__ == "__main__":
    main()
