"""The deploy's closing lines name every failed host and what failed it."""

from __future__ import annotations

from deploy.summary import summary_lines


def test_no_failure_no_line() -> None:
    assert summary_lines([], {"gpu01": ["slurm | slurmd"]}) == []


def test_each_failed_host_with_its_operations() -> None:
    errors = {"gpu01": ["slurm | slurmd", "slurm | slurmd active"], "cp2": ["ignored, not failed"]}
    assert summary_lines(["gpu01", "gpu02"], errors) == [
        "--> 2 host(s) failed: gpu01, gpu02",
        "    gpu01: slurm | slurmd; slurm | slurmd active",
        "    gpu02: failed before any operation ran (connect or prepare)",
    ]
