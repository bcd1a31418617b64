"""`trainbed validate` and `trainbed init`: the inventory's own commands."""

from __future__ import annotations

import json
import sys

import click

from trainbed.cli.common import INVALID_INVENTORY
from trainbed.inventory import InventoryError, load_inventory
from trainbed.inventory.generate import dump_inventory, generate_inventory


@click.command()
@click.argument("inventory", type=click.Path(dir_okay=True, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def validate(inventory: str, as_json: bool) -> None:
    """Validate INVENTORY against the schema and the reference design's rules.

    Every error is printed at once as FILE:LINE: PATH: message; exit 2 when any is found.
    """
    try:
        result = load_inventory(inventory)
    except InventoryError as err:
        if as_json:
            payload = {
                "valid": False,
                "errors": [m.as_dict() for m in err.errors],
                "warnings": [m.as_dict() for m in err.warnings],
            }
            click.echo(json.dumps(payload, indent=2))
        else:
            for message in [*err.errors, *err.warnings]:
                click.echo(str(message), err=True)
            click.echo(f"{inventory}: invalid ({len(err.errors)} error(s))", err=True)
        sys.exit(INVALID_INVENTORY)
    inv = result.inventory
    if as_json:
        payload = {"valid": True, "errors": [], "warnings": [m.as_dict() for m in result.warnings]}
        click.echo(json.dumps(payload, indent=2))
        return
    for message in result.warnings:
        click.echo(str(message), err=True)
    click.echo(
        f"{inventory}: valid: {len(inv.control_plane)} control-plane and {len(inv.compute)} compute "
        f"nodes, network configuration {inv.networks.infiniband.network_config} "
        f"({len(inv.rails)} rails), {len(result.warnings)} warning(s)"
    )


@click.command()
@click.option(
    "--compute-nodes", type=click.IntRange(1, 4096), required=True, help="Number of XE9680 nodes."
)
@click.option(
    "--network-config",
    type=click.Choice(["1", "2"]),
    required=True,
    help="1: 8 ConnectX-7 HCAs per node; 2: 4 HCAs per node.",
)
@click.option("--control-plane", type=click.IntRange(1, 3), default=3, show_default=True)
@click.option("--name", default="trainbed", show_default=True, help="Cluster name.")
def init(compute_nodes: int, network_config: str, control_plane: int, name: str) -> None:
    """Print a valid reference-design inventory to edit (addresses, rails, HCAs, switches, exports)."""
    if not name.replace("-", "").isalnum() or not name[0].isalpha() or name != name.lower():
        raise click.BadParameter(
            "lower-case letters, digits and '-', starting with a letter", param_hint="--name"
        )
    try:
        doc = generate_inventory(compute_nodes, int(network_config), control_plane, name)
    except ValueError as err:  # beyond a two-tier fat tree
        raise click.BadParameter(str(err), param_hint="--compute-nodes") from None
    click.echo(dump_inventory(doc), nl=False)


COMMANDS = (validate, init)
