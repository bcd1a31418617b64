"""Judgements the day-2 playbooks make (playbooks/filter_plugins/trainbed.py exposes them).

Pure functions from command output and the inventory's host variables to plain data, so that the
playbooks stay declarative and every decision is unit-tested against real program output.
"""

from __future__ import annotations

from typing import Any

from trainbed.parse.ibstat import parse_ibstat
from trainbed.parse.slurm import parse_scontrol_show_node

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


def _gpu_count(nvidia_smi_index_csv: str) -> int:
    """Lines of ``nvidia-smi --query-gpu=index --format=csv,noheader`` that are GPU indexes."""
    return sum(1 for line in nvidia_smi_index_csv.splitlines() if line.strip().isdigit())


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
    ``stderr``) of ``nvidia-smi --query-gpu=index --format=csv,noheader``, ``ibstat`` and
    ``systemctl is-active nvidia-fabricmanager``. Returns ``{"ok": bool, "failures": [...]}``
    with one short, human-readable failure per finding (they end up in the Slurm drain reason).
    A result left out (None) is not judged, so one check can be waited for on its own.
    """
    failures: list[str] = []
    profile = node.get("profile") or {}
    expected_gpus = int((profile.get("gpus") or {}).get("count", 0))
    if expected_gpus and gpus is not None:
        if gpus.get("rc", 1) != 0:
            failures.append(f"nvidia-smi failed (rc {gpus.get('rc')})")
        else:
            found = _gpu_count(gpus.get("stdout", ""))
            if found != expected_gpus:
                failures.append(f"GPUs {found}/{expected_gpus}")
    hcas = node.get("hcas") or []
    if hcas and ibstat is not None:
        rate = int(infiniband.get("link_rate_gbps", 0))
        layer = infiniband.get("link_layer")
        ports = {
            (ca.name, port.number): port
            for ca in parse_ibstat(ibstat.get("stdout", "") if ibstat.get("rc", 1) == 0 else "")
            for port in ca.ports
        }
        if ibstat.get("rc", 1) != 0:
            failures.append(f"ibstat failed (rc {ibstat.get('rc')})")
        else:
            bad = []
            for hca in hcas:
                port = ports.get((hca["device"], int(hca.get("port") or 1)))
                if port is None:
                    bad.append(f"{hca['device']} missing")
                elif port.state != "Active":
                    bad.append(f"{hca['device']} {port.state}")
                elif rate and port.rate != rate:
                    bad.append(f"{hca['device']} {port.rate} Gb/s (want {rate})")
                elif layer and port.link_layer and port.link_layer != layer:
                    bad.append(f"{hca['device']} {port.link_layer}")
            if bad:
                failures.append("HCA " + ", ".join(bad))
    if (profile.get("gpus") or {}).get("nvswitch") and fabricmanager is not None:
        state = (fabricmanager.get("stdout") or "").strip() or "unknown"
        if state != "active":
            failures.append(f"fabric manager {state}")
    return {"ok": not failures, "failures": failures}


def job_ids(squeue_text: str) -> list[str]:
    """Job ids from ``squeue -h -o %A``-style output (first column of every non-empty line)."""
    return [line.split()[0] for line in squeue_text.splitlines() if line.strip()]


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
