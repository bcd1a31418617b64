"""Slurm 22.05's controllers on the production and configuration-2 renders: MariaDB, slurmdbd and
slurmctld start on each inventory's files and log no error (no slurmd: their nodes' GPUs are
autodetected through NVML, which a container without GPUs cannot load). The container's changes
and excused lines are test_slurm.py's; its negative controls cover these judgements too."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import Box
from tests.conformance.test_slurm import problems, setup_script

LOGS = ("/var/log/slurm/slurmdbd.log", "/var/log/slurm/slurmctld.log")


@pytest.mark.parametrize("name", ["prod", "config2"])
def test_controllers_start_and_log_no_error(box: Box, name: str) -> None:
    box.ok(setup_script(name, slurmd=False), timeout=300)
    try:
        assert "slurmctld version" in box.ok("cat /var/log/slurm/slurmctld.log")
        assert "not recommended" not in box.ok("cat /var/log/slurm/slurmdbd.log")
        found = problems(box, LOGS)
        assert not found, "\n".join(found)
    finally:
        box.sh("pkill -x slurmctld; pkill -x slurmdbd")
