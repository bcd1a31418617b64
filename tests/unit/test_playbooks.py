"""Day-2 playbooks without a cluster: the inventory Ansible sees, the judgements, syntax and lint."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from trainbed import daytwo
from trainbed.health.decide import outcome
from trainbed.health.judge import judge
from trainbed.health.node import records
from trainbed.health.plan import HcaPort, HealthPlan
from trainbed.inventory import load_inventory
from trainbed.inventory.pyinfra_module import groups_for
from trainbed.render.packages import locked_packages
from trainbed.verdicts import NotRun

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "tests" / "fixtures" / "real"
PLAYBOOKS = sorted((REPO / "playbooks").glob("*.yml"))
INVENTORIES = [
    REPO / "inventory" / "prod.yaml",
    REPO / "inventory" / "mock.yaml",
    REPO / "tests" / "fixtures" / "inventories" / "config2.yaml",
]


def _ansible_inventory(path: Path, *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        ["ansible-inventory", "-i", "inventory/ansible.py", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "TRAINBED_INVENTORY": str(path)},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# --------------------------------------------------------------------------- the inventory


@pytest.mark.parametrize("path", INVENTORIES, ids=lambda p: p.name)
def test_ansible_sees_the_pyinfra_hosts_and_groups(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = _ansible_inventory(path, "--list")
    inv = load_inventory(path).inventory
    expected = {group: hosts for group, hosts in inv.groups().items() if hosts}
    # The pyinfra inventory module's groups are the same (its two automatic groups aside).
    monkeypatch.setenv("TRAINBED_INVENTORY", str(path))
    pyinfra = {g: [h for h, _ in hosts] for g, hosts in groups_for(path).items() if hosts}
    assert pyinfra == expected
    groups = {
        g: v["hosts"] for g, v in listed.items() if g not in ("_meta", "all") and "hosts" in v
    }
    assert groups == expected
    assert set(listed["_meta"]["hostvars"]) == {n.hostname for n in inv.nodes}


def test_ansible_host_vars_carry_what_the_playbooks_check() -> None:
    path = REPO / "inventory" / "mock.yaml"
    inv = load_inventory(path).inventory
    hostvars = _ansible_inventory(path, "--host", "gpu01")
    assert hostvars["trainbed_infiniband"] == {
        "network_config": 1,
        "link_rate_gbps": 400,
        "link_layer": "InfiniBand",
    }
    node = next(n for n in inv.nodes if n.hostname == "gpu01")
    assert hostvars["trainbed_locked_packages"] == [
        {"name": p.name, "version": p.version} for p in locked_packages(inv, node)
    ]
    assert hostvars["trainbed_node"]["profile"]["gpus"]["count"] == 8
    assert "__ansible_unsafe" not in json.dumps(hostvars)


# --------------------------------------------------------------------------- judgements


def test_ansible_reuses_a_connection_only_while_known_hosts_is_unchanged(tmp_path: Path) -> None:
    """Ansible's 60 s masters skip host key verification: their directory follows the file."""
    known = tmp_path / "known_hosts"
    known.write_text("10.0.0.1 ssh-ed25519 AAAAfirst\n")
    doc = yaml.safe_load((REPO / "inventory" / "mock.yaml").read_text())
    doc["ssh"]["known_hosts_file"] = str(known)
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(doc))

    def control_dirs() -> set[str]:
        hostvars = _ansible_inventory(path, "--list")["_meta"]["hostvars"]
        return {v["ansible_control_path_dir"] for v in hostvars.values()}

    (first,) = control_dirs()
    assert first.startswith("~/.ansible/cp/")
    assert control_dirs() == {first}
    known.write_text("10.0.0.1 ssh-ed25519 AAAAsecond\n")
    (second,) = control_dirs()
    assert second != first


def test_slurm_node_from_real_scontrol_output() -> None:
    text = (REAL / "slurm_scontrol_show_node_idle_drain_gres_count_lower.txt").read_text()
    node = daytwo.slurm_node(text, "yigou-dev-102-68")
    assert node["found"] and node["drain"] and node["responding"]
    assert node["state_text"] == "IDLE+DRAIN"
    assert node["reason"].startswith("gres/gpu count reported lower than configured")
    assert node["slurmd_start_time"] == "2024-12-19T11:41:49"
    assert not daytwo.slurm_node(text, "gpu01")["found"]


def test_slurm_node_states() -> None:
    text = (
        "NodeName=gpu01 Arch=x86_64\n   State=DOWN*+DRAIN ThreadsPerCore=1\n   Reason=x [root@t]\n"
    )
    node = daytwo.slurm_node(text, "gpu01")
    assert node["down"] and node["drain"] and not node["responding"]
    idle = daytwo.slurm_node("NodeName=gpu01\n   State=IDLE\n", "gpu01")
    assert not (idle["down"] or idle["drain"]) and idle["reason"] == ""


def _health(**outputs: str) -> dict[str, Any]:
    """A registered result of the health program's run on real outputs (its document as
    `trainbed.health.node` writes it)."""
    plan = HealthPlan(
        gpus=8,
        hcas=tuple(HcaPort(f"mlx5_{i}", 1, 400, "InfiniBand") for i in (0, 1, 4, 5, 6, 7, 8, 9)),
        units=("nvidia-fabricmanager",),
    )
    base = {
        "gpus": (REAL / "nvidia_smi_q_8xH100_535.183.01.txt").read_text(),
        "journal": "",
        "ibstat": (REAL / "ibstat_h100_node_8x_cx7_ndr400_all_active.txt").read_text(),
        "units": "active\n",
    }
    verdicts = judge("gpu01", plan, "passive", {**base, **outputs})
    doc = {"result": outcome(verdicts), "verdicts": records(verdicts)}
    return {"rc": 0 if doc["result"] == "pass" else 1, "stdout": json.dumps(doc)}


def test_the_quick_checks_pass_on_a_healthy_node() -> None:
    assert daytwo.health_result(_health(), "gpu01") == {
        "ok": True,
        "failures": [],
        "could_not_run": [],
    }


def test_the_quick_checks_name_every_finding_of_the_program() -> None:
    ibstat = (REAL / "ibstat_h100_node_cx7_some_down_polling_mixed_eth.txt").read_text()
    result = daytwo.health_result(_health(ibstat=ibstat, units="inactive\n"), "gpu01")
    assert not result["ok"]
    assert (
        "gpu01 mlx5_5 port 1 state: expected Active/LinkUp, got Down/Disabled" in result["failures"]
    )
    assert result["failures"][-1] == "gpu01 nvidia-fabricmanager: expected active, got inactive"


def test_a_program_that_did_not_run_is_could_not_run() -> None:
    missing = {"rc": 2, "stdout": "", "stderr": "trainbed-health: /etc/trainbed/catalog.json: …"}
    result = daytwo.health_result(missing, "gpu01")
    assert not result["ok"] and result["failures"] == []
    assert result["could_not_run"][0].startswith("gpu01 trainbed-health: could not run (`")
    hung = daytwo.health_result(
        _health(gpus=NotRun("gpu01 nvidia-smi -q", "did not answer within 8 s")), "gpu01"
    )
    assert not hung["ok"] and hung["could_not_run"] == [
        "gpu01 nvidia-smi -q: could not run (did not answer within 8 s)"
    ]


def test_the_playbook_runs_the_program_daytwo_judges() -> None:
    play = yaml.safe_load((REPO / "playbooks" / "rolling_reboot.yml").read_text())
    assert tuple(play[1]["vars"]["trainbed_health_command"]) == daytwo.HEALTH_COMMAND


def test_reboot_order_idle_first_then_inventory_order() -> None:
    hosts = ["gpu01", "gpu02", "gpu03", "gpu04"]
    assert daytwo.reboot_order(hosts, [1, 0, 2, 0]) == [
        "gpu02",
        "gpu04",
        "gpu01",
        "gpu03",
    ]


def test_job_ids_and_package_versions() -> None:
    assert daytwo.job_ids("12 RUNNING root wrap\n\n13 COMPLETING root x\n") == ["12", "13"]
    rows = daytwo.package_versions(
        "munge 0.5.15-2+deb12u1\nslurmd 22.05.8-4+deb12u2\n",
        [
            {"name": "munge", "version": "0.5.15-2+deb12u1"},
            {"name": "slurmd", "version": "22.05.8-4+deb12u3"},
            {"name": "opensm", "version": "5.20"},
        ],
    )
    assert [(r["name"], r["installed"], r["match"]) for r in rows] == [
        ("munge", "0.5.15-2+deb12u1", True),
        ("slurmd", "22.05.8-4+deb12u2", False),
        ("opensm", None, False),
    ]


def test_filter_plugin_exposes_the_judgements() -> None:
    spec = importlib.util.spec_from_file_location(
        "trainbed_filters", REPO / "playbooks" / "filter_plugins" / "trainbed.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    filters = module.FilterModule().filters()
    assert filters["trainbed_health_result"] is daytwo.health_result
    assert set(filters) == {
        "trainbed_slurm_node",
        "trainbed_health_result",
        "trainbed_job_ids",
        "trainbed_reboot_order",
        "trainbed_package_versions",
    }


# --------------------------------------------------------------------------- the playbooks


def _tasks(node: Any) -> list[dict[str, Any]]:
    """Every task dict in a play or task list, blocks flattened."""
    found = []
    if isinstance(node, list):
        for item in node:
            found += _tasks(item)
    elif isinstance(node, dict):
        if any(k in node for k in ("block", "rescue", "always")):
            for key in ("block", "rescue", "always"):
                found += _tasks(node.get(key, []))
        elif "tasks" in node or "hosts" in node:
            found += _tasks(node.get("tasks", []))
        else:
            found.append(node)
    return found


def test_playbooks_exist() -> None:
    names = {p.name for p in PLAYBOOKS}
    assert {
        "rolling_reboot.yml",
        "drain.yml",
        "resume.yml",
        "collect_diagnostics.yml",
        "rotate_munge_key.yml",
    } <= names


def test_no_mock_branch_in_the_playbooks() -> None:
    for path in [*PLAYBOOKS, *(REPO / "playbooks" / "tasks").glob("*.yml")]:
        assert "mock" not in path.read_text().lower(), path


def test_every_task_touching_the_munge_key_is_no_log() -> None:
    plays = yaml.safe_load((REPO / "playbooks" / "rotate_munge_key.yml").read_text())
    touching = [
        t
        for t in _tasks(plays)
        if any(word in json.dumps(t) for word in ("munge.key", "trainbed_keyfile", "credential"))
        and t.get("ansible.builtin.file", {}).get("state") != "absent"
    ]
    assert len(touching) >= 6
    for task in touching:
        assert task.get("no_log") is True, task["name"]


def test_diagnostics_never_read_secrets() -> None:
    text = (REPO / "playbooks" / "collect_diagnostics.yml").read_text()
    commands = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for secret in ("/etc/munge", "munge.key", "slurmdbd.conf", "password"):
        assert secret not in commands


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.name)
def test_playbook_syntax(playbook: Path) -> None:
    proc = subprocess.run(
        ["ansible-playbook", "--syntax-check", str(playbook.relative_to(REPO))],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "TRAINBED_INVENTORY": str(REPO / "inventory" / "mock.yaml")},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
