"""fio's JSON output against real files (tests/fixtures/real, see SOURCES.md), and findmnt -J."""

from __future__ import annotations

from pathlib import Path

from trainbed.parse.findmnt import Mounted, parse_findmnt
from trainbed.parse.fio import parse_fio

REAL = Path(__file__).resolve().parents[1] / "fixtures/real"
RANDRW = REAL / "fio_json_3.16_randrw_4k_nvme_libaio_qd64_4jobs_group_reporting.txt"
RBD_READ = REAL / "fio_json_3.39_randread_1m_librbd_ceph_qd1_1job.txt"
FINDMNT_ROOT = REAL / "findmnt_J_T_ext4_root_not_a_mount_point_util-linux_2.38.1.txt"


def test_real_group_reported_randrw() -> None:
    run = parse_fio(RANDRW.read_text())
    assert run.version == "fio-3.16" and run.timestamp == 1626763278 and run.error is None
    assert run.global_options["numjobs"] == "4" and run.global_options["filename"] == "/dev/nvme0n1"
    (job,) = run.jobs
    assert (job.name, job.groupid, job.error) == ("rand_read_write", 0, 0)
    assert job.options == {"name": "rand_read", "rw": "randrw", "bs": "4096", "time_based": "1"}
    assert (job.read.io_bytes, job.read.bw_bytes, job.read.runtime_ms) == (
        10463010816,
        348743777,
        30002,
    )
    assert (job.write.bw_bytes, job.write.total_ios) == (348450387, 2552154)
    assert job.read.done and job.write.done
    assert job.write.clat_mean_ns == 1558511.433458


def test_real_single_job_read_only() -> None:
    run = parse_fio(RBD_READ.read_text())
    assert run.version == "fio-3.39-30-g58818"
    assert run.global_options["time_based"] == "" and run.global_options["bs"] == "1048576"
    (job,) = run.jobs
    assert job.read.bw_bytes == 364985746 and job.read.runtime_ms == 60001
    # fio's bw_bytes is io_bytes over the direction's runtime
    assert abs(job.read.io_bytes / (job.read.runtime_ms / 1000) - job.read.bw_bytes) < 1000
    assert not job.write.done and job.write.runtime_ms == 0


def test_lines_before_the_document_are_notes() -> None:
    # The real document after the header that --output-format=normal,json prints before it
    # (layout as fio 3.x prints it; the two lines are constructed, the JSON is the real file).
    header = "ckpt: (g=0): rw=write, bs=(R) 4096KiB-4096KiB, ioengine=psync, iodepth=1\nfio-3.33\n"
    run = parse_fio(header + RBD_READ.read_text() + "\nRun status group 0 (all jobs):\n")
    assert run.notes == (
        "ckpt: (g=0): rw=write, bs=(R) 4096KiB-4096KiB, ioengine=psync, iodepth=1",
        "fio-3.33",
    )
    assert run.jobs[0].read.bw_bytes == 364985746


def test_truncated_document_says_so() -> None:
    text = RBD_READ.read_text()
    run = parse_fio(text[: len(text) // 2])
    assert run.jobs == () and run.error and "cut short or malformed" in run.error


def test_no_document() -> None:
    run = parse_fio("fio: pid=0, err=2/file:filesetup.c:805, func=open, error=No such file\n")
    assert run.jobs == () and run.error and "no fio JSON document" in run.error
    assert run.notes == ("fio: pid=0, err=2/file:filesetup.c:805, func=open, error=No such file",)


def test_findmnt_target_of_a_path_that_is_not_a_mount_point() -> None:
    assert parse_findmnt(FINDMNT_ROOT.read_text()) == [
        Mounted(
            "/",
            "/dev/vda",
            "ext4",
            ("rw", "relatime", "discard", "resv_strict", "resuid=65534", "resgid=65534"),
        )
    ]


def test_findmnt_not_output() -> None:
    assert parse_findmnt("findmnt: can't read /proc/self/mountinfo") == []
    assert parse_findmnt("{not json") == []


MOCK_WRITE = REAL / "fio_json_3.33_debian_write_4m_psync_direct_end_fsync_64m_mock_overlay.txt"
MOCK_READ = REAL / "fio_json_3.33_debian_read_4m_psync_direct_64m_mock_overlay.txt"
FINDMNT_OVERLAY = REAL / "findmnt_J_T_overlay_container_root_util-linux_2.38.1_mock.txt"


def test_real_storage_suite_write_and_read() -> None:
    write, read = parse_fio(MOCK_WRITE.read_text()), parse_fio(MOCK_READ.read_text())
    assert write.version == read.version == "fio-3.33" and write.global_options == {}
    (w,), (r,) = write.jobs, read.jobs
    assert w.name == r.name == "ckpt-gpu01-0"
    assert w.options["end_fsync"] == "1" and w.options["size"] == "64M"
    assert (w.write.io_bytes, w.write.bw_bytes, w.write.runtime_ms) == (67108864, 385683126, 174)
    assert not w.read.done and (r.read.io_bytes, r.read.runtime_ms) == (67108864, 424)


def test_findmnt_container_overlay() -> None:
    (mounted,) = parse_findmnt(FINDMNT_OVERLAY.read_text())
    assert (mounted.target, mounted.source, mounted.fstype) == ("/", "overlay", "overlay")
    assert any(o.startswith("lowerdir=") for o in mounted.options)
