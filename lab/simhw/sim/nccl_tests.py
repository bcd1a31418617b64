"""nccl-tests (``all_reduce_perf``, ``all_gather_perf``) over simulated H100 nodes.

Prints the 2.17.x table format. Numbers come from the hardware model and the Slurm layout: run as
``srun -N<n> --ntasks-per-node=1 all_reduce_perf -g 8 ...``; every task publishes its node's state
in a per-job directory of the shared fabric volume and rank 0 (which alone prints, like an MPI
build) waits, bounded, for all of them. Stdlib only.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import hwdesc

VERSION = "2.17.9"
NCCL = "2.21.5"
NCCL_CODE = "22105"
RENDEZVOUS_S = float(os.environ.get("TRAINBED_SIM_NCCL_WAIT", "60"))
NVLS_BUSBW, NO_NVLS_BUSBW = 480.0, 370.0
LAT_INTRA_US, LAT_INTER_US = 35.0, 25.0
HEADER = (
    "#                                                              out-of-place                 "
    "      in-place          \n"
    "#       size         count      type   redop    root     time   algbw   busbw  #wrong     "
    "time   algbw   busbw  #wrong \n"
    "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)             "
    "(us)  (GB/s)  (GB/s)         \n"
)
COLLECTIVES = {
    # name: (redop, busbw factor f(n), count f(size, n))
    "all_reduce_perf": ("sum", lambda n: 2 * (n - 1) / n, lambda size, n: size // 4),
    "all_gather_perf": ("none", lambda n: (n - 1) / n, lambda size, n: size // 4 // n),
}


def parse_size(text: str) -> int:
    """``8``, ``128M``, ``8G`` -> bytes."""
    text = text.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(float(text[:-1] if text[-1:] in "KMG" else text) * mult)


def parse(argv: list[str]) -> dict[str, Any]:
    """nccl-tests options."""
    o: dict[str, Any] = {
        "b": 32 << 20,
        "e": 32 << 20,
        "f": 1,
        "i": 1 << 20,
        "g": 1,
        "t": 1,
        "n": 20,
        "w": 5,
        "c": 1,
        "G": 0,
        "a": 1,
        "J": None,
        "m": 1,
    }
    long = {
        "--minbytes": "b",
        "--maxbytes": "e",
        "--stepfactor": "f",
        "--stepbytes": "i",
        "--ngpus": "g",
        "--nthreads": "t",
        "--iters": "n",
        "--warmup_iters": "w",
        "--check": "c",
        "--cudagraph": "G",
        "--average": "a",
        "--output_file": "J",
        "--agg_iters": "m",
        "--op": "o",
        "--datatype": "d",
        "--root": "r",
        "--blocking": "z",
    }
    args = list(argv)
    while args:
        a = args.pop(0)
        name, eq, value = a.partition("=")
        key = long.get(name) or (name[1:] if name.startswith("-") and len(name) == 2 else None)
        if key is None:
            raise ValueError(f"invalid option '{a}'")
        if not eq:
            value = args.pop(0) if args else ""
        if key in ("b", "e", "i"):
            o[key] = parse_size(value)
        elif key == "J":
            o["J"] = value
        elif key in ("o", "d", "r", "z"):
            o[key] = value
        else:
            o[key] = int(value)
    return o


def sizes(o: dict[str, Any]) -> list[int]:
    """The message sizes of the sweep."""
    out: list[int] = []
    size = o["b"]
    while size <= o["e"] and len(out) < 64:
        out.append(size)
        if o["f"] > 1:
            size *= o["f"]
        else:
            if o["i"] <= 0:
                break
            size += o["i"]
    return out


def node_state(hw: dict[str, Any]) -> dict[str, Any]:
    """What one node contributes to the job (published to the rendezvous)."""
    active = [h for h in hw.get("hcas", []) if hwdesc.port_view(h)["active"]]
    return {
        "hostname": hwdesc.hostname(hw),
        "pid": os.getpid(),
        "gpus": [{"bus_id": g["bus_id"], "name": g["name"]} for g in hwdesc.present_gpus(hw)],
        "fabric_ready": hwdesc.fabric_ready(hw),
        "wrong": bool(hw.get("nccl", {}).get("wrong")),
        "hca_rates": [int(h["rate_gbps"]) for h in active],
    }


def peak_busbw(nodes: list[dict[str, Any]], gpus_per_node: int, env: dict[str, str]) -> float:
    """Large-message bus bandwidth (GB/s) of the job.

    One node: NVLink/NVSwitch, ~480 with NVLS (all 8 GPUs, NCCL_NVLS_ENABLE != 0), ~370 without.
    Several nodes: the network ceiling, ring-bottlenecked by the slowest HCA: per node
    (active HCAs x slowest active rate) / 8 bits, minimum over nodes, times the algorithm's
    efficiency (Ring ~0.92; NCCL's default tree reads high on 2 nodes).
    """
    nvls = gpus_per_node == 8 and env.get("NCCL_NVLS_ENABLE", "1") != "0"
    intra = NVLS_BUSBW if nvls else NO_NVLS_BUSBW
    if len(nodes) == 1:
        return intra
    per_node = [
        len(n["hca_rates"]) * min(n["hca_rates"]) / 8 if n["hca_rates"] else 0.0 for n in nodes
    ]
    ceiling = min(per_node)
    if ceiling <= 0:
        return 0.0
    algo = env.get("NCCL_ALGO", "").lower()
    if "ring" in algo or ("tree" not in algo and len(nodes) > 2):
        eff = 0.92 if len(nodes) <= 4 else 0.88
    else:
        eff = 1.17 if len(nodes) == 2 else 0.92
    return min(intra, ceiling * eff)


def row_times(
    size: int, nranks: int, busbw: float, latency: float, factor: float, rng: random.Random
) -> tuple[float, float, float]:
    """(time us, algbw GB/s, busbw GB/s) of one measurement."""
    algbw_peak = busbw / factor if factor else busbw
    t = (latency + size / (algbw_peak * 1e3)) * (1 + rng.uniform(-0.01, 0.01))
    algbw = size / t / 1e3
    return t, algbw, algbw * factor


def fmt_time(t: float) -> str:
    return f"{t:8.2f}" if t < 10000 else f"{t:8.1f}"


def table(
    o: dict[str, Any], prog: str, nodes: list[dict[str, Any]], env: dict[str, str]
) -> tuple[str, int, list[dict[str, Any]]]:
    """The result rows and footer; returns (text, out-of-bounds count, json rows)."""
    redop, factor_of, count_of = COLLECTIVES[prog]
    nranks = len(nodes) * o["g"]
    factor = factor_of(nranks) if nranks > 1 else 1.0
    peak = peak_busbw(nodes, o["g"], env)
    latency = LAT_INTRA_US if len(nodes) == 1 else LAT_INTER_US
    wrong_any = any(n["wrong"] for n in nodes)
    rng = random.Random(os.getpid())
    text, oob, total_bw, n_bw, rows = "", 0, 0.0, 0, []
    for size in sizes(o):
        cells, rec = [], {"size": size, "count": count_of(size, nranks)}
        for place in ("out", "in"):
            t, alg, bus = row_times(size, nranks, peak, latency, factor, rng)
            if o["c"]:
                wrong = (size // 4) % 97 + 32 if wrong_any and size >= (1 << 20) else 0
                oob += wrong
                wrong_s = str(wrong)
            else:
                wrong_s = "N/A"
            cells.append(f" {fmt_time(t)} {alg:7.2f} {bus:7.2f} {wrong_s:>7s}")
            total_bw += bus
            n_bw += 1
            rec[place] = {
                "time_us": round(t, 2),
                "algbw": round(alg, 2),
                "busbw": round(bus, 2),
                "wrong": wrong_s,
            }
        text += (
            f"{size:12d}  {count_of(size, nranks):12d}  {'float':>8s}  {redop:>6s}  "
            f"{-1:6d}" + "".join(cells) + "\n"
        )
        rows.append(rec)
    avg = total_bw / n_bw if n_bw else 0.0
    text += f"# Out of bounds values : {oob} {'FAILED' if oob else 'OK'}\n"
    text += f"# Avg bus bandwidth    : {avg:g} \n#\n"
    return text, oob, rows


def rendezvous(state: dict[str, Any]) -> tuple[list[dict[str, Any]] | None, Path | None, int]:
    """Publish this task's node state; rank 0 gathers all (bounded). (nodes, job dir, rank)."""
    ntasks = int(os.environ.get("SLURM_NTASKS", os.environ.get("SLURM_NNODES", "1")))
    rank = int(os.environ.get("SLURM_PROCID", "0"))
    if ntasks <= 1:
        return [state], None, 0
    job = f"{os.environ.get('SLURM_JOB_ID', 'nojob')}.{os.environ.get('SLURM_STEP_ID', '0')}"
    jobdir = hwdesc.fabric_dir() / "nccl" / job
    jobdir.mkdir(parents=True, exist_ok=True)
    tmp = jobdir / f".task{rank}.tmp"
    tmp.write_text(json.dumps(state))
    tmp.replace(jobdir / f"task{rank}.json")
    if rank != 0:
        return None, jobdir, rank
    deadline = time.monotonic() + RENDEZVOUS_S
    while time.monotonic() < deadline:
        files = [jobdir / f"task{i}.json" for i in range(ntasks)]
        if all(f.exists() for f in files):
            return [json.loads(f.read_text()) for f in files], jobdir, 0
        time.sleep(0.1)
    return [], jobdir, 0


def wait_result(jobdir: Path) -> int:
    """A non-zero rank: wait (bounded) for rank 0's exit status and share it."""
    deadline = time.monotonic() + RENDEZVOUS_S + 30
    while time.monotonic() < deadline:
        try:
            return int((jobdir / "result").read_text())
        except (OSError, ValueError):
            time.sleep(0.1)
    return 1


def run(o: dict[str, Any], prog: str, nodes: list[dict[str, Any]]) -> tuple[str, int, list]:
    """Everything rank 0 prints, and the exit status."""
    env = dict(os.environ)
    out = [
        f"# nccl-tests version {VERSION} nccl-headers={NCCL_CODE} nccl-library={NCCL_CODE}",
        f"# Collective test starting: {prog}",
        f"# nThread {o['t']} nGpus {o['g']} minBytes {o['b']} maxBytes {o['e']} step: "
        + (f"{o['f']}(factor)" if o["f"] > 1 else f"{o['i']}(bytes)")
        + f" warmup iters: {o['w']} iters: {o['n']} agg iters: {o['m']} validation: {o['c']} "
        f"graph: {o['G']}",
        "#",
        "# Using devices",
    ]
    failures = []
    for n in nodes:
        if not n["fabric_ready"]:
            failures.append(
                f"{n['hostname']}: Test CUDA failure common.cu:941 'system not yet "
                f"initialized'\n .. {n['hostname']} pid {n['pid']}: Test failure "
                "common.cu:891"
            )
        elif len(n["gpus"]) < o["g"]:
            failures.append(
                f"{n['hostname']}: Test CUDA failure common.cu:1012 'invalid device "
                f"ordinal'\n .. {n['hostname']} pid {n['pid']}: Test failure "
                "common.cu:891"
            )
    if failures:
        return "\n".join(out + failures) + "\n", 1, []
    rank = 0
    for n in nodes:
        for d in range(o["g"]):
            bus = int(n["gpus"][d]["bus_id"].split(":")[1], 16)
            out.append(
                f"#  Rank {rank:2d} Group  0 Pid {n['pid']:6d} on {n['hostname']:>10s} "
                f"device {d:2d} [0000:{bus:02x}:00] {n['gpus'][d]['name']}"
            )
            rank += 1
    if len(nodes) > 1 and not all(n["hca_rates"] for n in nodes):
        bad = next(n for n in nodes if not n["hca_rates"])
        out.append(
            f"{bad['hostname']}: Test NCCL failure common.cu:1279 'remote process exited "
            f"or there was a network error' / 'NET/IB : No active IB device found'"
        )
        out.append(f" .. {bad['hostname']} pid {bad['pid']}: Test failure common.cu:1141")
        return "\n".join(out) + "\n", 1, []
    if len(nodes) > 1:
        out.append(f"NCCL version {NCCL}+cuda12.2")
    out.append("#")
    text, oob, rows = table(o, prog, nodes, env)
    tail = f"# Collective test concluded: {prog}\n#\n\n"
    body = "\n".join(out) + "\n" + HEADER + text + tail
    if oob:
        body += "".join(
            f" .. {n['hostname']} pid {n['pid']}: Test failure common.cu:1189\n"
            for n in nodes
            if n["wrong"] or n is nodes[0]
        )
        return body, 1, rows
    return body, 0, rows


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Entry point (the program name selects the collective)."""
    prog = os.path.basename(prog or sys.argv[0]).removesuffix(".py")
    if prog not in COLLECTIVES:
        prog = "all_reduce_perf"
    try:
        o = parse(list(sys.argv[1:] if argv is None else argv))
    except (ValueError, IndexError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    nodes, jobdir, _rank = rendezvous(node_state(hwdesc.load()))
    if nodes is None:
        assert jobdir is not None  # rendezvous gives a job directory to every task but rank 0
        return wait_result(jobdir)
    if not nodes:
        print(
            f"{prog}: timed out after {RENDEZVOUS_S:.0f} s waiting for the other tasks of the "
            "job (bootstrap)",
            file=sys.stderr,
        )
        rc = 1
    else:
        text, rc, rows = run(o, prog, nodes)
        sys.stdout.write(text)
        if o["J"] and rows:
            Path(o["J"]).write_text(
                json.dumps({"version": VERSION, "collective": prog, "results": rows}, indent=1)
            )
    if jobdir is not None:
        (jobdir / "result").write_text(str(rc))
    return rc


if __name__ == "__main__":
    sys.exit(main())
