"""Jinja filters for the day-2 playbooks: thin wrappers over `trainbed.daytwo` (unit-tested there)."""

from __future__ import annotations

import sys
from pathlib import Path

# The trainbed of this checkout, like inventory/ansible.py.
_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from trainbed import daytwo  # noqa: E402


class FilterModule:
    """trainbed_slurm_node, trainbed_quick_check, trainbed_job_ids, trainbed_reboot_order,
    trainbed_package_versions."""

    def filters(self):
        return {
            "trainbed_slurm_node": daytwo.slurm_node,
            "trainbed_quick_check": daytwo.quick_check,
            "trainbed_job_ids": daytwo.job_ids,
            "trainbed_reboot_order": daytwo.reboot_order,
            "trainbed_package_versions": daytwo.package_versions,
        }
