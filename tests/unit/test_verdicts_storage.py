"""The storage verdict on real fio figures (tests/fixtures/real) against what `trainbed plan`
computes the model needs (trainbed.sizing.plan), and the filesystem it was measured on."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from trainbed.inventory import load_inventory
from trainbed.inventory.model import StorageProbe
from trainbed.parse.findmnt import Mounted, parse_findmnt
from trainbed.parse.fio import FioRun, parse_fio
from trainbed.sizing.models import known_model
from trainbed.sizing.plan import plan_model
from trainbed.verdicts.storage import Need, NodeStorage, judge, need

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "tests/fixtures/real"
# A 4-job write of 10,454,208,512 B in 30.002 s (348 MB/s), and a single-threaded 1 MiB read of
# 21,899,509,760 B in 60.001 s (365 MB/s): as one GPU rank's write and read each.
WRITE = parse_fio(
    (REAL / "fio_json_3.16_randrw_4k_nvme_libaio_qd64_4jobs_group_reporting.txt").read_text()
)
READ = parse_fio((REAL / "fio_json_3.39_randread_1m_librbd_ceph_qd1_1job.txt").read_text())
ROOT_FS = parse_findmnt(
    (REAL / "findmnt_J_T_ext4_root_not_a_mount_point_util-linux_2.38.1.txt").read_text()
)[0]
NFS = Mounted(
    "/mnt/checkpoints", "ps1.mock.internal:/ifs/data/checkpoints", "nfs", ("rw", "vers=3")
)
DIR = "/mnt/checkpoints"


def _need(inventory: str, model: str) -> Need:
    inv = load_inventory(ROOT / "inventory" / inventory).inventory
    sized = plan_model(inv, known_model(model), checkpoint_minutes=5)
    return need(sized.save_restore, sized.gpus_per_node, StorageProbe(), model)


def _nodes(count: int, mounted: Mounted | None = NFS, ranks: int = 8) -> list[NodeStorage]:
    return [
        NodeStorage(f"gpu0{i + 1}", (WRITE,) * ranks, (READ,) * ranks, mounted)
        for i in range(count)
    ]


def test_need_is_the_plans() -> None:
    target = _need("prod.yaml", "llama2-70b")
    # trainbed plan inventory/prod.yaml --model llama2-70b: 3.22 GB/s to save, 9.66 to restore,
    # 201 MB/s per single-threaded writer
    assert round(target.write_bytes_per_s / 1e9, 2) == 3.22
    assert round(target.read_bytes_per_s / 1e9, 2) == 9.66
    assert round(target.node_write_bytes_per_s / 1e9, 2) == 1.61  # 8 GPUs × 201 MB/s
    assert target.node_read_bytes_per_s == target.node_write_bytes_per_s
    assert "llama2-70b: 16 files" in target.basis


def test_real_figures_pass_the_mock_need() -> None:
    """16 ranks (2 nodes × 8) at the real figures: 5.58 GB/s write, 5.84 read, against
    llama2-7b's 0.31 / 2.52 GB/s and the 1.26 GB/s node floor."""
    verdict = judge(_nodes(2), DIR, _need("mock.yaml", "llama2-7b"))
    assert verdict.status == "passed", verdict
    assert round(verdict.aggregate.write_bytes_per_s / 1e9, 2) == 5.58
    assert round(verdict.aggregate.read_bytes_per_s / 1e9, 2) == 5.84
    assert verdict.aggregate.files == 16
    assert round(verdict.nodes["gpu01"].write_bytes_per_s / 1e9, 2) == 2.79


def test_real_figures_fail_the_prod_restore() -> None:
    verdict = judge(_nodes(2), DIR, _need("prod.yaml", "llama2-70b"))
    assert verdict.status == "failed"
    assert verdict.failures == ("storage aggregate read: expected >= 9.66 GB/s, got 5.84 GB/s",)


def test_node_floor_names_the_slow_node() -> None:
    nodes = [*_nodes(1), NodeStorage("gpu02", (WRITE,) * 2, (READ,) * 8, NFS)]
    target = replace(_need("mock.yaml", "llama2-7b"), node_write_bytes_per_s=1.5e9)
    verdict = judge(nodes, DIR, target)
    assert verdict.failures == (
        "gpu02 storage write: expected >= 1.50 GB/s per node, got 0.70 GB/s",
    )


def test_override_of_the_node_floor() -> None:
    inv = load_inventory(ROOT / "inventory/mock.yaml").inventory
    sized = plan_model(inv, known_model("llama2-7b"))
    target = need(sized.save_restore, 8, StorageProbe(node_min_write_gbs=4.0), "llama2-7b")
    assert target.node_write_bytes_per_s == 4e9 and "node_min_write_gbs" in target.node_basis
    assert target.node_read_bytes_per_s == pytest.approx(
        8 * sized.save_restore.write_bytes_per_s_per_rank
    )


def test_local_filesystem_is_not_measured_on_nfs_never_a_pass() -> None:
    verdict = judge(_nodes(1, ROOT_FS), DIR, _need("prod.yaml", "llama2-70b"))
    assert verdict.status == "not_measured" and verdict.failures == ()
    assert verdict.not_measured == (
        "gpu01 storage: not measured on NFS: /mnt/checkpoints is ext4 on /dev/vda (mounted at /)",
    )
    # the shortfall is kept, but judges nothing
    assert "storage aggregate write: expected >= 3.22 GB/s, got 2.79 GB/s" in verdict.shortfalls
    passing = judge(_nodes(1, ROOT_FS), DIR, _need("mock.yaml", "llama2-7b"))
    assert passing.status == "not_measured" and not passing.failures


@pytest.mark.parametrize(
    ("writes", "mounted", "expected"),
    [
        ((None,) * 8, NFS, "gpu01 storage fio write rank 0: could not run (no output recorded)"),
        (
            (parse_fio("fio: bad option"),) * 8,
            NFS,
            "gpu01 storage fio write rank 0: could not run (no fio JSON document"
            " (fio --output-format=json) found)",
        ),
        ((WRITE,) * 8, None, "gpu01 storage: not measured on NFS: findmnt recorded no filesystem for /mnt/checkpoints"),
    ],
)  # fmt: skip
def test_could_not_run(
    writes: tuple[FioRun | None, ...], mounted: Mounted | None, expected: str
) -> None:
    verdict = judge(
        [NodeStorage("gpu01", writes, (READ,) * 8, mounted)], DIR, _need("mock.yaml", "llama2-7b")
    )
    assert verdict.status == "not_measured" and verdict.not_measured[0] == expected


def test_a_job_error_fails() -> None:
    errored = replace(WRITE, jobs=(replace(WRITE.jobs[0], error=5),))
    node = NodeStorage("gpu01", (errored,) + (WRITE,) * 7, (READ,) * 8, NFS)
    verdict = judge([node], DIR, _need("mock.yaml", "llama2-7b"))
    assert verdict.status == "failed"
    assert verdict.failures == (
        "gpu01 storage fio write rank 0: expected no error, got fio error 5",
    )


def test_no_node_could_not_run() -> None:
    verdict = judge([], DIR, _need("mock.yaml", "llama2-7b"))
    assert verdict.status == "not_measured"
