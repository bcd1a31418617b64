"""The fabric manager/driver judgement the acceptance check reads (no SSH)."""

from __future__ import annotations

from trainbed.checks.fabric_manager import driver_versions, fabric_manager_version, version_problem


def test_reads_the_version_line() -> None:
    assert fabric_manager_version("Fabric Manager version is : 535.183.01\n") == "535.183.01"
    assert fabric_manager_version("sh: 1: nv-fabricmanager: not found\n") is None


def test_driver_versions_one_per_gpu() -> None:
    assert driver_versions("535.183.01\n535.183.01\n\n") == {"535.183.01"}


def test_one_version_passes() -> None:
    assert version_problem("gpu01", "535.183.01", ["535.183.01", "535.183.01"]) is None


def test_mismatch_names_node_and_both_versions() -> None:
    problem = version_problem("gpu02", "535.183.01", {"535.999.99"})
    assert problem is not None
    assert problem.startswith("gpu02: fabric manager 535.183.01, driver 535.999.99: ")
    assert "refuses" in problem


def test_unreadable_or_no_gpu_is_a_problem_not_a_pass() -> None:
    assert version_problem("gpu03", None, ["535.183.01"]) == (
        "gpu03: fabric manager version unreadable (`nv-fabricmanager --version`)"
    )
    assert "driver unknown" in str(version_problem("gpu03", "535.183.01", []))
