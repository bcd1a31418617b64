"""The probe batch scripts: golden files for inventory/prod.yaml, and what every script must say.

Regenerate after an intended change with
`TRAINBED_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_probe_scripts.py` and review the diff.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.probe_helpers import REPO, inventory_for, load_prod, read
from trainbed.probes.evaluate import schedule_for
from trainbed.probes.facts import port_hints, sections, versions
from trainbed.probes.scripts import facts_script, split_environment, suite_jobs

GOLDEN = REPO / "tests" / "golden" / "probes" / "prod"
RUNDIR = "/home/trainbed/trainbed-probes/RUN"
SUITES = ("nccl", "ib_write_bw")


def _prod_files() -> dict[str, str]:
    inv = load_prod()
    files = {"facts.sh": facts_script(inv, RUNDIR)}
    for job in suite_jobs(inv, schedule_for(inv), SUITES, RUNDIR):
        files.update(job.files)
    return files


PROD_FILES = _prod_files()
GOLDEN_NAMES = [
    "facts.sh",
    "nccl-single-gpu01.sbatch",
    "nccl-pair-1.sbatch",
    "nccl-all.sbatch",
    "ib-round1.sbatch",
    "ib-round1.node.sh",
    "ib-round1.files",
]


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_golden(name: str) -> None:
    rendered = PROD_FILES[name]
    path = GOLDEN / name
    if os.environ.get("TRAINBED_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered)
    assert rendered == path.read_text(), f"{name} differs from {path}"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("name", sorted(PROD_FILES))
def test_scripts_are_valid_bash(name: str, tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_text(PROD_FILES[name])
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_job_counts_and_layout() -> None:
    inv = load_prod()
    schedule = schedule_for(inv)
    jobs = suite_jobs(inv, schedule, SUITES, RUNDIR)
    nodes = len(inv.compute)
    rounds = len(schedule["ib_write_bw"]["rounds"])
    assert len(jobs) == len(schedule["nccl"]) + rounds
    assert [j.suite for j in jobs[:nodes]] == ["nccl"] * nodes  # single-node gates first
    ib = [j for j in jobs if j.suite == "ib_write_bw"]
    assert len(ib) == rounds
    rails = len(inv.rails)
    assert all(len(j.ib_files) == len(j.nodes) // 2 * rails for j in ib)


def test_nccl_environment_and_ring_only_on_multi_node() -> None:
    single = PROD_FILES["nccl-single-gpu01.sbatch"]
    multi = PROD_FILES["nccl-all.sbatch"]
    for script in (single, multi):
        assert "export NCCL_IB_HCA='=mlx5_0:1," in script
        assert "export NCCL_NET_GDR_LEVEL=PHB" in script  # prod enables GPUDirect RDMA
        assert "all_reduce_perf -b 8 -e 8G -f 2 -g 8" in script
        assert "#SBATCH --exclusive" in script and "#SBATCH --partition=gpu" in script
    assert "NCCL_ALGO" not in single
    assert "export NCCL_ALGO=Ring" in multi


def test_ib_round_runs_server_on_a_and_client_on_b_for_every_rail() -> None:
    node = PROD_FILES["ib-round1.node.sh"]
    inv = load_prod()
    a, b = schedule_for(inv)["ib_write_bw"]["rounds"][0][0]
    part_a = node.split(f"\n{a})\n", 1)[1].split(";;", 1)[0]
    part_b = node.split(f"\n{b})\n", 1)[1].split(";;", 1)[0]
    rails = len(inv.rails)
    assert part_a.count("  server 120 ib_write_bw ") == rails and "client" not in part_a
    assert part_a.count(" && server 60 ib_write_lat ") == rails
    assert part_b.count("  client 10 ib_write_bw ") == rails
    # A latency client waits out its partner's bandwidth runs (up to their server timeout).
    assert part_b.count(" && client 130 ib_write_lat ") == rails
    runs = [line for line in part_b.splitlines() if " ib_write_" in line]
    assert len(runs) == 2 * rails and all(f" {a} " in line for line in runs)
    # Latency only after every bandwidth run of the node ended, and only where it succeeded.
    for i in range(1, rails + 1):
        assert part_a.index(f'wait "$bw{i}"; ok{i}=$?') < part_a.index(
            f'[ "$ok{i}" = 0 ] && server'
        )
    # GPUDirect (the HCA's nearest GPU) for bandwidth; latency from host memory.
    bw_lines = [line for line in part_a.splitlines() if "ib_write_bw" in line]
    lat_lines = [line for line in part_a.splitlines() if "ib_write_lat" in line]
    assert all("--use_cuda=" in line for line in bw_lines)
    assert not any("--use_cuda" in line for line in lat_lines)
    assert all(" -s 2 -n 1000 -i " in line for line in lat_lines)
    # On ports of its own.
    assert {line.split()[4] for line in lat_lines}.isdisjoint(line.split()[4] for line in bw_lines)
    assert '"$prog" -d "$dev" -p "$port"' in node and "--report_gbits" in node


def test_config2_uses_its_four_rails(tmp_path: Path) -> None:
    inv = inventory_for(tmp_path, 2, 2)
    jobs = suite_jobs(inv, schedule_for(inv), SUITES, RUNDIR)
    (ib,) = [j for j in jobs if j.suite == "ib_write_bw"]
    assert len(ib.ib_files) == 4
    nccl = next(j for j in jobs if j.name == "nccl-all").files["nccl-all.sbatch"]
    assert nccl.count("mlx5_") == 4


def test_split_environment_keeps_what_differs_per_node() -> None:
    common, own = split_environment(
        {"a": {"X": "1", "HCA": "=mlx5_0"}, "b": {"X": "1", "HCA": "=mlx5_1"}}
    )
    assert common == {"X": "1"}
    assert own == {"a": {"HCA": "=mlx5_0"}, "b": {"HCA": "=mlx5_1"}}


# --------------------------------------------------------------------------- facts


def _facts(ibstat: str, driver: str = "535.183.01") -> str:
    return (
        f"=== driver\n{driver}\n{driver}\n=== ibstat\n{ibstat}\n"
        "=== perftest\n24.10.0-0.65.g9093bae.2410068\n=== end\n"
    )


def test_facts_versions_and_hints(tmp_path: Path) -> None:
    inv = inventory_for(tmp_path, 2, 1)
    ibstat = read(REPO / "tests/fixtures/real/ibstat_h100_node_8x_cx7_ndr400_all_active.txt")
    first, second = (n.hostname for n in inv.compute)
    devices = [h.device for h in inv.compute[0].hcas]
    facts = {first: _facts(ibstat), second: _facts(ibstat.replace("Rate: 400", "Rate: 200", 1))}
    assert sections(facts[first])["perftest"].startswith("24.10.0")
    v = versions(inv, facts)
    assert v["driver"] == "535.183.01" and v["perftest"].startswith("24.10.0")
    fw = v["nodes"][first]["hca_firmware"]
    assert set(fw) == set(devices)
    hints = port_hints(inv, facts)
    # Ports the fixture lists at 400 Gb/s raise nothing; the one at 200 does.
    rated = [h for h in hints if "rate: expected 400 Gb/s, got 200 Gb/s" in h.text]
    assert len(rated) == 1 and rated[0].node == second and rated[0].rail is not None
    assert not [h for h in hints if h.node == first and "absent from ibstat" not in h.text]
