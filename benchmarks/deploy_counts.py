"""Operations, facts and commands per compute node of a first deploy:
``python benchmarks/deploy_counts.py [INVENTORY ...]`` (default inventory/prod.yaml and
inventory/mock.yaml).

Each inventory's deploy is planned through pyinfra's API against ``@fake`` hosts that have nothing
installed and no file (tests/fixtures/pyinfra/plan.py with fake_prod.py, answering as the
inventory's OS release), so every operation and every command of a first run shows. It prints,
for each set of compute nodes that count alike: operations (those added for the host, with or
without commands), facts (pyinfra's "Loaded fact" lines) and commands executed. A copy of the
inventory is planned, its repository keys and password file replaced by placeholders in a
temporary directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PLANNER = ROOT / "tests" / "fixtures" / "pyinfra" / "plan.py"
FAKE = ROOT / "tests" / "fixtures" / "pyinfra" / "fake_prod.py"
DEFAULT = ("inventory/prod.yaml", "inventory/mock.yaml")


def per_host(plan: dict, log: str) -> dict[str, tuple[int, int, int]]:
    """host → (operations, facts, commands) from the planner's JSON and its -vvv log."""
    ops: Counter[str] = Counter()
    commands: Counter[str] = Counter()
    for op in plan["ops"]:
        for host, ran in op["hosts"].items():
            ops[host] += 1
            commands[host] += len(ran)
    facts: Counter[str] = Counter()
    for line in log.splitlines():
        if "Loaded fact" in line and "[@fake/" in line:
            facts[line.split("[@fake/", 1)[1].split("]", 1)[0]] += 1
    return {host: (ops[host], facts[host], commands[host]) for host in ops}


def _site(inventory: Path, tmp: Path) -> Path:
    """A copy of `inventory` whose keys and password file are placeholders under `tmp`."""
    doc = yaml.safe_load(inventory.read_text())
    (tmp / "keys").mkdir()
    for repo in doc.get("software", {}).get("repositories", []):
        key = tmp / "keys" / Path(repo["signed_by"]).name
        key.write_text(f"placeholder key {key.name}\n")
        repo["signed_by"] = str(key)
    accounting = doc.get("slurm", {}).get("accounting", {})
    if "database_password_file" in accounting:
        secret = tmp / "slurmdbd-password"
        secret.write_text("benchmark\n")
        accounting["database_password_file"] = str(secret)
    copy = tmp / inventory.name
    copy.write_text(yaml.safe_dump(doc, sort_keys=False))
    return copy


def plan(inventory: Path, os_release: str) -> dict[str, tuple[int, int, int]]:
    """Plan the deploy of `inventory` against @fake hosts running `os_release`; per host, its
    three counts."""
    with tempfile.TemporaryDirectory(prefix="trainbed-deploy-counts-") as tmp:
        site = _site(inventory, Path(tmp))
        env = {
            **os.environ,
            "TRAINBED_INVENTORY": str(site),
            "TRAINBED_SLURMDBD_PASSWORD": "benchmark",
            "TRAINBED_FAKE_OS_RELEASE": os_release,
            "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
        }
        proc = subprocess.run(
            [sys.executable, str(PLANNER), str(FAKE), "deploy/cluster.py"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
        )
    if proc.returncode != 0:
        sys.exit(f"{inventory}: the plan failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout)
    if result["failed"]:
        sys.exit(f"{inventory}: the plan failed on {', '.join(result['failed'])}")
    return per_host(result, proc.stderr)


def main() -> None:
    from trainbed.inventory import load_inventory

    for name in sys.argv[1:] or DEFAULT:
        inventory = (ROOT / name) if not Path(name).is_absolute() else Path(name)
        inv = load_inventory(inventory).inventory
        compute = {n.hostname for n in inv.compute}
        nodes: dict[tuple[int, int, int], list[str]] = {}
        for host, counts in sorted(plan(inventory, inv.cluster.os_release).items()):
            if host in compute:
                nodes.setdefault(counts, []).append(host)
        for (ops, facts, commands), hosts in nodes.items():
            print(
                f"{name}: {ops} operations, {facts} facts, {commands} commands per compute node "
                f"({', '.join(hosts)})"
            )


if __name__ == "__main__":
    main()
