"""`trainbed health INVENTORY [--json]`: the node-local health program's last result per node."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import click

from trainbed.cli.common import load_or_exit
from trainbed.health import STATE_DIR
from trainbed.health.report import rows, table
from trainbed.inventory import Inventory
from trainbed.parse.slurm import SlurmNode, parse_scontrol_show_node
from trainbed.remote import Remote, Unreachable

LAST = f"{STATE_DIR}/last.json"


def _last(inventory: Inventory, host: str) -> tuple[str | None, str | None]:
    try:
        result = Remote.connect(inventory, host).run("cat %s", LAST, cache=False)
    except Unreachable as exc:
        return None, str(exc)
    if result.rc != 0:
        return None, f"no {LAST} ({' '.join(result.stderr.split())[:120]})"
    return result.stdout, None


def _slurm(inventory: Inventory) -> list[SlurmNode]:
    for controller in inventory.slurmctld_hosts:
        try:
            result = Remote.connect(inventory, controller.hostname).run(
                "scontrol show node", cache=False
            )
        except Unreachable:
            continue
        if result.rc == 0:
            return parse_scontrol_show_node(result.stdout)
    return []


@click.command("health")
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per node, as a list.")
def health(inventory: str, as_json: bool) -> None:
    """Each node's last trainbed-health run (result, level, age) and, for compute nodes, its
    Slurm state (control-plane nodes run it from a timer: `-`)."""
    inv = load_or_exit(inventory)
    hosts = [n.hostname for n in inv.nodes]
    with ThreadPoolExecutor(max_workers=min(32, len(hosts) or 1)) as pool:
        lasts = dict(zip(hosts, pool.map(lambda h: _last(inv, h), hosts), strict=True))
    slurm_nodes = {n.hostname for n in inv.compute}
    found = rows(hosts, lasts, _slurm(inv), datetime.now(UTC), slurm_nodes)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in found], indent=1))
        return
    for line in table(found):
        click.echo(line)


COMMANDS = [health]
