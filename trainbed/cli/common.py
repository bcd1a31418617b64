"""What several commands share: loading the inventory, or saying why not and exiting."""

from __future__ import annotations

import sys

import click

from trainbed.inventory import Inventory, InventoryError, load_inventory

#: Exit status of a command that could not start because its inventory is invalid.
INVALID_INVENTORY = 2


def load_or_exit(path: str) -> Inventory:
    """The validated inventory at `path`; else every error as FILE:LINE: PATH: message, then exit."""
    try:
        return load_inventory(path).inventory
    except InventoryError as err:
        for message in err.errors:
            click.echo(str(message), err=True)
        click.echo(f"{path}: invalid ({len(err.errors)} error(s))", err=True)
        sys.exit(INVALID_INVENTORY)
