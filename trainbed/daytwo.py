"""Judgements the day-2 playbooks make (playbooks/filter_plugins/trainbed.py exposes them).

Pure functions from command output and the inventory's host variables to plain data, so that the
playbooks stay declarative and every decision is unit-tested against real program output.
"""

from __future__ import annotations

from typing import Any

from trainbed.parse.ibstat import parse_ibstat
from trainbed.parse.nvidia_smi import parse_csv_query
from trainbed.parse.slurm import parse_scontrol_show_node, squeue_job_ids
from trainbed.verdicts import NotRun, gpu_count, hca_port, not_run, service

#: Prefix of the drain reasons the rolling reboot writes; a node drained for another reason is
#: left drained after its reboot (someone else took it out of service).
ROLLING_REBOOT_REASON = "trainbed rolling reboot"


def slurm_node(text: str, name: str) -> dict[str, Any]:
    """``scontrol show node NAME`` → state, flags, reason, slurmd start time, drain and busy flags.

    ``found`` is false when the output names no such node (``Node NAME not found``).
    """
    for node in parse_scontrol_show_node(text):
        if node.name != name:
            continue
        flags = list(node.state_flags)
        state = node.state or ""
        return {
            "found": True,
            "name": name,
            "state": state,
            "flags": flags,
            "state_text": "+".join([state, *flags]),
            "drain": node.drained,
            "responding": "NOT_RESPONDING" not in flags,
            "down": state == "DOWN",
            "reason": node.reason or "",
            "slurmd_start_time": node.fields.get("SlurmdStartTime", ""),
            "boot_time": node.fields.get("BootTime", ""),
        }
    return {
        "found": False,
        "name": name,
        "state": "",
        "flags": [],
        "state_text": "",
        "drain": False,
        "responding": False,
        "down": False,
        "reason": "",
        "slurmd_start_time": "",
        "boot_time": "",
    }


#: The commands whose registered results `quick_check` judges (the playbook runs these).
GPU_COMMAND = "nvidia-smi --query-gpu=index --format=csv,noheader"
IBSTAT_COMMAND = "ibstat"
FABRIC_MANAGER_UNIT = "nvidia-fabricmanager"


def _not_run(host: str, command: str, result: dict[str, Any]) -> NotRun | None:
    """Why a registered command result cannot be judged (it failed), or None when it can."""
    if result.get("rc", 1) == 0:
        return None
    return not_run(
        f"{host} {command.split()[0]}", command, result.get("rc"), result.get("stderr", "")
    )


def quick_check(
    node: dict[str, Any],
    infiniband: dict[str, Any],
    gpus: dict[str, Any] | None = None,
    ibstat: dict[str, Any] | None = None,
    fabricmanager: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A compute node's quick checks after a reboot; expected values come from the inventory.

    ``node`` is the host's ``trainbed_node``, ``infiniband`` the cluster's ``trainbed_infiniband``;
    ``gpus``, ``ibstat`` and ``fabricmanager`` are registered command results (``rc``, ``stdout``,
    ``stderr``) of `GPU_COMMAND`, `IBSTAT_COMMAND` and ``systemctl is-active`` of
    `FABRIC_MANAGER_UNIT`. Returns ``{"ok": bool, "failures": [...], "could_not_run": [...]}``:
    one line per finding, judged by `trainbed.verdicts` as the acceptance checks judge it (they
    end up in the Slurm drain reason), and one per command that failed (no verdict, not ok).
    A result left out (None) is not judged, so one check can be waited for on its own.
    """
    host = str(node.get("hostname") or "node")
    failures: list[str | None] = []
    unrun: list[NotRun | None] = []
    profile = node.get("profile") or {}
    expected_gpus = int((profile.get("gpus") or {}).get("count", 0))
    if expected_gpus and gpus is not None:
        unrun.append(failed := _not_run(host, GPU_COMMAND, gpus))
        if not failed:
            found = len(parse_csv_query(gpus.get("stdout", ""), ("index",)))
            failures.append(gpu_count.problem(host, expected_gpus, found))
    hcas = node.get("hcas") or []
    if hcas and ibstat is not None:
        unrun.append(failed := _not_run(host, IBSTAT_COMMAND, ibstat))
        if not failed:
            cas = hca_port.by_name(parse_ibstat(ibstat.get("stdout", "")))
            for hca in hcas:
                want = hca_port.Expected(
                    hca["device"],
                    int(hca.get("port") or 1),
                    int(infiniband.get("link_rate_gbps") or 0) or None,
                    infiniband.get("link_layer"),
                    hca.get("port_guid"),
                )
                failures.extend(hca_port.problems(host, want, cas))
    if (profile.get("gpus") or {}).get("nvswitch") and fabricmanager is not None:
        # `systemctl is-active` exits 3 for an inactive unit: its answer is the fact, not a failure.
        failures.append(
            service.problem(host, FABRIC_MANAGER_UNIT, fabricmanager.get("stdout") or "")
        )
    found_failures = [f for f in failures if f]
    could_not_run = [str(u) for u in unrun if u]
    return {
        "ok": not found_failures and not could_not_run,
        "failures": found_failures,
        "could_not_run": could_not_run,
    }


#: ``squeue -h -o %A`` output → job ids (the playbooks' ``trainbed_job_ids`` filter).
job_ids = squeue_job_ids


def reboot_order(hosts: list[str], jobs: list[int]) -> list[str]:
    """Hosts ordered idle first (fewest running jobs: ``jobs[i]`` is ``hosts[i]``'s), given order
    among equals."""
    hosts = list(hosts)
    order = sorted(range(len(hosts)), key=lambda i: (int(jobs[i]), i))
    return [hosts[i] for i in order]


def package_versions(dpkg_query_text: str, packages: list[dict[str, str]]) -> list[dict[str, Any]]:
    """``dpkg-query -W -f '${Package} ${Version}\\n' NAMES`` → locked vs installed, per package."""
    installed: dict[str, str] = {}
    for line in dpkg_query_text.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            installed[parts[0]] = parts[1]
    rows = []
    for package in packages:
        have = installed.get(package["name"])
        rows.append(
            {
                "name": package["name"],
                "locked": package["version"],
                "installed": have,
                "match": have == package["version"],
            }
        )
    return rows
