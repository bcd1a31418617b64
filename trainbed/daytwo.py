"""Judgements the day-2 playbooks make (playbooks/filter_plugins/trainbed.py exposes them).

Pure functions from command output and the inventory's host variables to plain data, so that the
playbooks stay declarative and every decision is unit-tested against real program output.
"""

from __future__ import annotations

import json
from typing import Any

from trainbed.health import PROGRAM_PATH
from trainbed.parse.slurm import parse_scontrol_show_node, squeue_job_ids
from trainbed.verdicts import not_run

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


#: The node-local health program's passive level, judging only (the playbook drains and resumes
#: with its own reason): the quick checks after a reboot are this program's, not rules of their own.
HEALTH_COMMAND = (PROGRAM_PATH, "--level", "passive", "--no-slurm", "--json")


def health_result(result: dict[str, Any], host: str = "node") -> dict[str, Any]:
    """A registered result of `HEALTH_COMMAND` → ``{"ok", "failures", "could_not_run"}``.

    ``ok`` only when the level passed; ``failures`` are the program's (judged by
    `trainbed.verdicts`), ``could_not_run`` its checks that could not run, or the program itself
    when it printed no run document (missing, no catalog). A warning is neither.
    """
    try:
        doc = json.loads(result.get("stdout") or "")
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("verdicts"), list):
        command = " ".join(HEALTH_COMMAND)
        unrun = not_run(
            f"{host} trainbed-health", command, result.get("rc"), result.get("stderr", "")
        )
        return {"ok": False, "failures": [], "could_not_run": [str(unrun)]}
    verdicts = [v for v in doc["verdicts"] if isinstance(v, dict)]
    failures = [str(f) for v in verdicts for f in v.get("failures") or []]
    could_not_run = [str(v["could_not_run"]) for v in verdicts if v.get("could_not_run")]
    return {
        "ok": doc.get("result") == "pass" and not failures and not could_not_run,
        "failures": failures,
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
