"""One archive per job: the batch script packs its outputs (real bash and tar), the run fetches one
file per job, and a lost or partial archive costs only that job's measurements (not measured)."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.unit.fake_slurm import FakeSubmitHost
from tests.unit.probe_helpers import inventory_for
from trainbed.inventory import Inventory
from trainbed.probes.evaluate import schedule_for
from trainbed.probes.results import validate_results
from trainbed.probes.run import read_archive, run_suite
from trainbed.probes.scripts import ARCHIVE_DIR, JobSpec, suite_jobs

needs_tools = pytest.mark.skipif(
    not (shutil.which("bash") and shutil.which("tar")), reason="needs bash and GNU tar"
)

#: A stand-in for srun: the facts step writes the node's facts, the measuring step prints or,
#: with SRUN_SLEEP set, runs until the job is signalled (a time limit).
FAKE_SRUN = """#!/bin/bash
if [[ "$*" == *facts.sh* ]]; then
  mkdir -p "$RUNDIR/facts" && echo "facts of gpu01" >"$RUNDIR/facts/gpu01.txt"
  exit 0
fi
echo "measured: $*"
if [ -n "${SRUN_SLEEP:-}" ]; then exec sleep "$SRUN_SLEEP"; fi
"""


@pytest.fixture
def inv2(tmp_path: Path) -> Inventory:
    return inventory_for(tmp_path, 2, 1)


def _single_job(inv: Inventory, rundir: Path) -> JobSpec:
    jobs = suite_jobs(inv, schedule_for(inv), ("nccl", "ib_write_bw"), str(rundir))
    return next(j for j in jobs if j.name == "nccl-single-gpu01")


def _stage(job: JobSpec, rundir: Path) -> Path:
    (rundir / ARCHIVE_DIR).mkdir(parents=True)
    for name, content in job.files.items():
        (rundir / name).write_text(content)
    bin_dir = rundir.parent / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(FAKE_SRUN)
    (bin_dir / "srun").chmod(0o755)
    return bin_dir


def _members(path: Path) -> dict[str, str]:
    with tarfile.open(path, "r:gz") as tar:
        return {
            m.name: tar.extractfile(m).read().decode()  # type: ignore[union-attr]
            for m in tar
            if m.isfile()
        }


def _start(job: JobSpec, rundir: Path, bin_dir: Path, **env: str) -> subprocess.Popen[bytes]:
    log = (rundir / job.log.rsplit("/", 1)[1]).open("w")  # sbatch --output
    return subprocess.Popen(
        ["bash", str(rundir / job.script)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "RUNDIR": str(rundir), **env},
        start_new_session=True,
    )


@needs_tools
def test_the_job_script_packs_its_log_and_facts_into_one_archive(inv2, tmp_path):
    rundir = tmp_path / "run"
    job = _single_job(inv2, rundir)
    bin_dir = _stage(job, rundir)
    assert _start(job, rundir, bin_dir).wait(timeout=60) == 0
    assert job.archive == f"{rundir}/{ARCHIVE_DIR}/nccl-single-gpu01.tar.gz"
    members = _members(Path(job.archive))
    assert set(members) == {"nccl-single-gpu01.out", "facts/gpu01.txt"}
    assert "measured: " in members["nccl-single-gpu01.out"]
    assert not list((rundir / ARCHIVE_DIR).glob("*.part"))


@needs_tools
def test_a_job_ended_by_its_time_limit_still_leaves_its_archive(inv2, tmp_path):
    rundir = tmp_path / "run"
    job = _single_job(inv2, rundir)
    bin_dir = _stage(job, rundir)
    proc = _start(job, rundir, bin_dir, SRUN_SLEEP="60")
    deadline = time.monotonic() + 30
    while "measured" not in (rundir / "nccl-single-gpu01.out").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)  # Slurm signals the batch script and its steps
    assert proc.wait(timeout=30) == 143
    assert set(_members(Path(job.archive or ""))) == {"nccl-single-gpu01.out", "facts/gpu01.txt"}


def _tar(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (None, "no archive"),
        (_tar({"a.out": "x" * 5000})[:40], "partial"),
        (gzip.compress(b"not a tar"), "partial"),
        (b"", "partial"),
    ],
)
def test_a_missing_or_partial_archive_yields_nothing(data, why):
    members, reason = read_archive(data, "archives/ib-round1.tar.gz")
    assert members is None
    assert reason.startswith("archives/ib-round1.tar.gz: ") and why in reason


def test_a_whole_archive_yields_every_member():
    members, reason = read_archive(_tar({"ib-round1.out": "", "ib/x.txt": "y"}), "a")
    assert members == {"ib-round1.out": "", "ib/x.txt": "y"} and reason == ""


def _run(inv: Inventory, host: FakeSubmitHost, out: Path):
    outcome = run_suite(inv, host, out, clock=host.clock, sleep=host.sleep)
    validate_results(outcome.results)
    return outcome


def test_the_run_fetches_one_file_per_job(inv2, tmp_path):
    host = FakeSubmitHost()
    reads: list[str] = []
    original = host.read_bytes

    def counted(path: str) -> bytes | None:
        reads.append(path)
        return original(path)

    host.read_bytes = counted  # type: ignore[method-assign]
    host.read_text = lambda path: pytest.fail(f"read file by file: {path}")  # type: ignore[method-assign]
    outcome = _run(inv2, host, tmp_path / "out")
    assert outcome.results["passed"], outcome.results["findings"]
    assert len(reads) == len(outcome.jobs) == outcome.submitted
    assert all(r.endswith(".tar.gz") for r in reads)
    raw = tmp_path / "out" / "raw"
    assert len(list((raw / ARCHIVE_DIR).glob("*.tar.gz"))) == len(reads)
    assert (raw / "nccl-all.out").is_file()  # NCCL logs unpacked for the HTML report's curves
    assert outcome.results["versions"]["nodes"], "facts come from the archives"


@pytest.mark.parametrize("fate", ["lost", "partial"])
def test_a_lost_archive_costs_only_its_jobs_measurements(inv2, tmp_path, fate):
    host = FakeSubmitHost(archives={"round1": fate})
    outcome = _run(inv2, host, tmp_path / "out")
    results = outcome.results
    job = next(j for j in outcome.jobs if j.name == "round1")
    assert job.state == "NOT_MEASURED" and job.job_id is not None
    assert job.reason.startswith("could not run: archives/ib-round1.tar.gz: ")
    assert not results["passed"]
    assert results["ib_write_bw"] == []  # no verdict: neither a pass nor a fault
    assert results["missing"] and all(
        m.startswith("ib_write_bw ") and m.endswith("not measured (could not run)")
        for m in results["missing"]
    )
    assert results["findings"] == []  # blames no node
    assert results["nccl"] and all(v["passed"] for v in results["nccl"])  # the rest is judged


def test_a_job_that_failed_keeps_its_state_without_an_archive(inv2, tmp_path):
    host = FakeSubmitHost({"round1": "timeout"}, archives={"round1": "lost"})
    outcome = _run(inv2, host, tmp_path / "out")
    job = next(j for j in outcome.jobs if j.name == "round1")
    assert job.state == "TIMEOUT"  # the job's own failure judges its measurements, as before
    round1 = outcome.results["ib_write_bw"]
    assert round1 and all(not v["passed"] and "TIMEOUT" in v["reason"] for v in round1)
