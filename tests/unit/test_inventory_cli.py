"""`trainbed validate` and `trainbed init` as a user runs them, and the inventories built on them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.conftest import PROD_YAML, REPO
from trainbed.cli import main
from trainbed.inventory import load_inventory


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_validate_prod() -> None:
    code, out, err = run("validate", str(PROD_YAML))
    assert code == 0, err
    assert "valid: 3 control-plane and 6 compute nodes, network configuration 1 (8 rails)" in out


def test_validate_invalid_prints_file_line_path(tmp_path: Path) -> None:
    text = PROD_YAML.read_text().replace(
        "rail: rail3, port_guid: '0xa088c20300001003'",
        "rail: rail33, port_guid: '0xa088c20300001003'",
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    code, out, err = run("validate", str(bad))
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "rail33" in t)
    assert code == 2
    assert f"{bad}:{line}: compute[0].hcas[3].rail: unknown rail 'rail33'" in err
    assert "Traceback" not in err + out


def test_validate_json(tmp_path: Path) -> None:
    code, out, _ = run("validate", "--json", str(PROD_YAML))
    assert code == 0 and json.loads(out) == {"valid": True, "errors": [], "warnings": []}
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster: 1\n")
    code, out, _ = run("validate", "--json", str(bad))
    payload = json.loads(out)
    assert code == 2 and payload["valid"] is False
    assert {
        "file": str(bad),
        "line": 1,
        "path": "cluster",
        "message": "1 is not of type 'object'",
        "severity": "error",
    } in payload["errors"]


@pytest.mark.parametrize(
    "text", ["", "::\n", "a: [\n", "- 1\n"], ids=["empty", "colons", "unclosed", "list"]
)
def test_validate_never_tracebacks(tmp_path: Path, text: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "trainbed", "validate", str(bad)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"{bad}:") and "Traceback" not in proc.stderr


def test_validate_missing_file(tmp_path: Path) -> None:
    code, _, err = run("validate", str(tmp_path / "nope.yaml"))
    assert code == 2 and f"{tmp_path / 'nope.yaml'}: no such file" in err


@pytest.mark.parametrize("nodes", [1, 2, 7, 32, 1024])
@pytest.mark.parametrize("config", ["1", "2"])
def test_init_output_validates(tmp_path: Path, nodes: int, config: str) -> None:
    code, out, err = run(
        "init", "--compute-nodes", str(nodes), "--network-config", config, "--name", "site-a"
    )
    assert code == 0, err
    assert out.startswith("# yaml-language-server: $schema=")
    file = tmp_path / "site.yaml"
    file.write_text(out)
    result = load_inventory(file)
    inv = result.inventory
    assert len(inv.compute) == nodes
    assert {len(node.hcas) for node in inv.compute} == {8 if config == "1" else 4}
    assert len(inv.rails) == (8 if config == "1" else 4)
    assert result.warnings == []
    if nodes > 32:
        # Beyond one QM9790 per rail: leaves with 1:1 subscription and a spine layer.
        assert any(sw.role == "spine" for sw in inv.switches)
        leaves = [sw for sw in inv.switches if sw.role == "leaf" and sw.fabric == "infiniband"]
        spines = {sw.name for sw in inv.switches if sw.role == "spine"}
        # A 1:1 fat tree per rail: every leaf of a rail reaches every spine of that rail, and
        # the spines' 64 ports take the leaves' 32 uplinks each.
        for rail in inv.rails:
            own = [sw for sw in leaves if sw.name.startswith(f"ib-{rail.name}-")]
            group = set(own[0].uplinks)
            assert all(set(sw.uplinks) == group for sw in own)
            assert len(group) * 64 >= len(own) * 32 > (len(group) - 1) * 64
            assert group <= spines and all(s.startswith(f"ib-{rail.name}-spine") for s in group)


def test_init_beyond_a_two_tier_fat_tree_is_refused() -> None:
    code, _, err = run("init", "--compute-nodes", "2049", "--network-config", "1")
    assert code == 2 and "65 leaves a rail" in err and "Traceback" not in err


def test_init_small_control_plane(tmp_path: Path) -> None:
    code, out, _ = run(
        "init", "--compute-nodes", "2", "--network-config", "2", "--control-plane", "1"
    )
    file = tmp_path / "one.yaml"
    file.write_text(out)
    result = load_inventory(file)
    assert code == 0
    inv = result.inventory
    # One controller cannot host the standby SM, so init puts it on the first compute node.
    assert [sm.host for sm in inv.rails[0].subnet_managers] == ["cp1", "gpu01"]
    assert inv.groups()["opensm"] == ["cp1", "gpu01"]
    assert any("gpu01 is a compute node" in str(w) for w in result.warnings)


def test_init_rejects_bad_name() -> None:
    code, _, err = run(
        "init", "--compute-nodes", "2", "--network-config", "1", "--name", "Bad_Name"
    )
    assert code == 2 and "--name" in err


def test_pyinfra_inventory_groups() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pyinfra", "inventory/prod.py", "debug-inventory"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "[gpu06]" in out
    assert "--> Groups: compute, slurm, slurmd, infiniband, prod" in out
    assert '"ssh_strict_host_key_checking": "yes"' in out


def test_pyinfra_inventory_invalid_stops_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "prod.yaml"
    bad.write_text(PROD_YAML.read_text().replace("hostname: gpu02", "hostname: gpu01"))
    env = {**os.environ, "TRAINBED_INVENTORY": str(bad)}
    proc = subprocess.run(
        [sys.executable, "-m", "pyinfra", "inventory/prod.py", "debug-inventory"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "compute[1].hostname: duplicate hostname 'gpu01'" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_ansible_inventory_matches_pyinfra_groups() -> None:
    # the script imports trainbed: this checkout's, whatever the installed package is
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.run(
        ["ansible-inventory", "-i", "inventory/ansible.py", "--list"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    inv = load_inventory(PROD_YAML).inventory
    for group, hosts in inv.groups().items():
        if hosts:
            assert listed[group]["hosts"] == hosts
    hostvars = listed["_meta"]["hostvars"]["gpu03"]
    assert hostvars["ansible_host"] == "10.10.1.3"
    assert hostvars["trainbed_node"]["hcas"][7]["device"] == "mlx5_11"
    assert "__ansible_unsafe" not in proc.stdout
    assert "StrictHostKeyChecking=yes" in hostvars["ansible_ssh_common_args"]


def test_prod_yaml_round_trips_through_plain_yaml() -> None:
    assert yaml.safe_load(PROD_YAML.read_text())["cluster"]["name"] == "xe9680-validation"


@pytest.mark.parametrize(
    "command",
    [
        ["validate"],
        ["validate", "--json"],
        ["render", "--out", "OUT"],
        ["probe", "plan"],
        ["probe"],
        ["plan", "--model", "llama2-7b"],
        ["check"],
    ],
    ids=" ".join,
)
def test_an_invalid_inventory_exits_2_from_every_command(
    tmp_path: Path, command: list[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(PROD_YAML.read_text().replace("hostname: gpu02", "hostname: gpu01"))
    args = [str(tmp_path / "out") if a == "OUT" else a for a in command]
    name, *options = args
    if name == "probe" and options[:1] == ["plan"]:
        argv = ["probe", "plan", str(bad)]
    else:
        argv = [name, str(bad), *options]
    code, out, err = run(*argv)
    assert code == 2, (out, err)
    assert "duplicate hostname 'gpu01'" in out + err
    assert not (tmp_path / "out").exists()
