"""Jinja filters for the day-2 playbooks: thin wrappers over `trainbed.daytwo` (unit-tested there)."""

from __future__ import annotations

# `trainbed` is the package installed beside ansible-core (the controller's python).
from trainbed import daytwo


class FilterModule:
    """trainbed_slurm_node, trainbed_health_result, trainbed_job_ids, trainbed_reboot_order,
    trainbed_package_versions."""

    def filters(self):
        return {
            "trainbed_slurm_node": daytwo.slurm_node,
            "trainbed_health_result": daytwo.health_result,
            "trainbed_job_ids": daytwo.job_ids,
            "trainbed_reboot_order": daytwo.reboot_order,
            "trainbed_package_versions": daytwo.package_versions,
        }
