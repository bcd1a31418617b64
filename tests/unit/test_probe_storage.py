"""The storage suite's job and judgement without a cluster: the batch script and node script
(golden for inventory/prod.yaml), the node script run for real with a stand-in fio that copies
real fio output (tests/fixtures/real), and the results document it makes."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from tests.unit.probe_helpers import (
    FINISHED,
    REPO,
    STARTED,
    evaluate_suite,
    load_prod,
    suite_outputs,
)
from trainbed.inventory import Inventory, load_inventory
from trainbed.probes.evaluate import evaluate, schedule_for
from trainbed.probes.report import render_junit, render_markdown
from trainbed.probes.results import validate_results
from trainbed.probes.scripts import suite_jobs
from trainbed.probes.storage import OUTPUT_DIR, judge_storage, output_paths, storage_spec

GOLDEN = REPO / "tests" / "golden" / "probes" / "prod"
RUNDIR = "/home/trainbed/trainbed-probes/RUN"
REAL = REPO / "tests" / "fixtures" / "real"
WRITE = REAL / "fio_json_3.16_randrw_4k_nvme_libaio_qd64_4jobs_group_reporting.txt"
READ = REAL / "fio_json_3.39_randread_1m_librbd_ceph_qd1_1job.txt"


def _prod_storage() -> dict[str, str]:
    inv = load_prod()
    (job,) = suite_jobs(inv, schedule_for(inv), ("storage",), RUNDIR)
    assert (job.suite, job.nodes) == ("storage", tuple(n.hostname for n in inv.compute))
    return job.files


@pytest.mark.parametrize("name", ["storage.sbatch", "storage.node.sh"])
def test_golden(name: str) -> None:
    rendered = _prod_storage()[name]
    path = GOLDEN / name
    if os.environ.get("TRAINBED_UPDATE_GOLDEN"):
        path.write_text(rendered)
    assert rendered == path.read_text(), f"{name} differs from {path}"


def test_node_script_pattern() -> None:
    node = _prod_storage()["storage.node.sh"]
    # one single-threaded writer per GPU (8 on the XE9680), the file flushed, O_DIRECT read-back
    assert "for rank in $(seq 0 7)" in node
    assert "--numjobs=1 --end_fsync=1" in node and "--direct=1" in node
    assert "--size=4096M" in node  # probes.storage.file_mib default
    assert "/mnt/checkpoints/trainbed-probe-RUN" in node
    assert "findmnt -J -T" in node


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("name", ["storage.sbatch", "storage.node.sh"])
def test_scripts_are_valid_bash(name: str, tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_text(_prod_storage()[name])
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _fake_fio(bin_dir: Path) -> None:
    """A stand-in fio that writes the real output of the direction it is asked for."""
    fio = bin_dir / "fio"
    fio.write_text(
        "#!/bin/bash\n"
        'for a in "$@"; do case "$a" in --rw=*) rw=${a#--rw=};; --output=*) out=${a#--output=};;'
        " --filename=*) f=${a#--filename=};; esac; done\n"
        f'if [ "$rw" = write ]; then : > "$f"; cp {WRITE} "$out"; else cp {READ} "$out"; fi\n'
    )
    fio.chmod(fio.stat().st_mode | stat.S_IEXEC)


@pytest.mark.skipif(shutil.which("findmnt") is None, reason="needs findmnt (util-linux)")
def test_node_script_runs_and_its_outputs_are_judged(tmp_path: Path) -> None:
    inv = load_prod()
    rundir, files = tmp_path / "run", tmp_path / "checkpoints"
    (rundir / OUTPUT_DIR).mkdir(parents=True)
    spec = storage_spec(inv, str(rundir), "R1", ("gpu01",), directory=str(files))
    script = rundir / "storage.node.sh"
    script.write_text(spec.files["storage.node.sh"])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_fio(bin_dir)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURMD_NODENAME": "gpu01"}
    for phase in ("write", "read"):
        proc = subprocess.run(["bash", str(script), phase], env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    assert len(list((files / "trainbed-probe-R1" / "gpu01").iterdir())) == 8
    texts = {
        key: Path(path).read_text() if Path(path).exists() else None
        for key, path in output_paths(inv, str(rundir), "gpu01").items()
    }
    assert all(text is not None for text in texts.values()), texts
    result = judge_storage(inv, str(files), {"gpu01": texts}, "42")
    # wherever this runs, the tmp directory is not an NFS mount
    assert result.verdict.status == "not_measured"
    assert result.verdict.not_measured[0].startswith(
        f"gpu01 storage: not measured on NFS: {files} is "
    )
    assert result.verdict.nodes["gpu01"].files == 8
    assert round(result.verdict.nodes["gpu01"].write_bytes_per_s / 1e9, 2) == 2.79
    subprocess.run(["bash", str(script), "clean"], env=env, check=True)
    assert not (files / "trainbed-probe-R1" / "gpu01").exists()


def _texts(inv: Inventory, mounted: str) -> dict[str, dict[str, str | None]]:
    out = {}
    for node in inv.compute:
        paths = output_paths(inv, RUNDIR, node.hostname)
        out[node.hostname] = {
            key: mounted
            if key == "findmnt"
            else (WRITE if key.endswith("write") else READ).read_text()
            for key in paths
        }
    return out


NFS_FINDMNT = (
    '{"filesystems": [{"target": "/mnt/checkpoints", "source": "ps1.mock.internal:/ifs/data/checkpoints",'
    ' "fstype": "nfs", "options": "rw,vers=3"}]}'
)  # constructed in findmnt -J's layout: the lab has no NFS client to produce a real one


@pytest.mark.parametrize(
    ("findmnt", "model", "status", "passed"),
    [
        (NFS_FINDMNT, "llama2-7b", "passed", True),
        (NFS_FINDMNT, "gpt3-175b", "failed", False),
        ((REAL / "findmnt_J_T_ext4_root_not_a_mount_point_util-linux_2.38.1.txt").read_text(), "llama2-70b", "not_measured", False),
    ],
    ids=["nfs-passes", "nfs-fails-the-need", "local-not-measured"],
)  # fmt: skip
def test_results_document(findmnt: str, model: str, status: str, passed: bool) -> None:
    mock = load_inventory(REPO / "inventory/mock.yaml").inventory
    storage = replace(mock.probes.storage, model=model)
    inv = replace(mock, probes=replace(mock.probes, storage=storage))
    result = judge_storage(inv, "/mnt/checkpoints", _texts(inv, findmnt), "7")
    doc = evaluate(inv, started=STARTED, finished=FINISHED, suites=("storage",), storage=result)
    validate_results(doc)
    assert doc["storage"]["status"] == status and doc["passed"] is passed
    markdown = render_markdown(doc)
    assert "## Checkpoint storage" in markdown
    junit = render_junit(doc)
    assert ("<failure" in junit) is (status == "failed")
    assert ("<skipped" in junit) is (status == "not_measured")


def test_not_measured_storage_fails_nothing_beside_passing_suites() -> None:
    inv = load_inventory(REPO / "inventory/mock.yaml").inventory
    nccl, ib = suite_outputs(inv)
    local = (REAL / "findmnt_J_T_ext4_root_not_a_mount_point_util-linux_2.38.1.txt").read_text()
    result = judge_storage(inv, "/mnt/checkpoints", _texts(inv, local), "7")
    suites = ("nccl", "ib_write_bw", "storage")
    doc = evaluate_suite(inv, nccl, ib, suites=suites, storage=result)
    validate_results(doc)
    assert doc["storage"]["status"] == "not_measured" and doc["passed"] is True
    assert doc["suites"] == ["nccl", "ib_write_bw", "storage"]
    failed = judge_storage(inv, "/mnt/checkpoints", _texts(inv, NFS_FINDMNT), "7")
    failing = replace(failed, verdict=replace(failed.verdict, status="failed", failures=("x",)))
    assert evaluate_suite(inv, nccl, ib, suites=suites, storage=failing)["passed"] is False
    assert evaluate_suite(inv, nccl, ib, suites=suites)["missing"] == ["storage"]
