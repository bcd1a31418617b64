"""Helpers for the small pyinfra inventory modules under `inventory/`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from trainbed.hostkeys import install_pyinfra_hint
from trainbed.inventory.export import pyinfra_groups
from trainbed.inventory.load import InventoryError, load_inventory


def groups_for(default_yaml: Path) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Groups for the YAML beside a pyinfra inventory module (`TRAINBED_INVENTORY` overrides it).

    An invalid inventory prints every validation message and stops pyinfra (exit 1, no traceback).
    pyinfra's host key refusals then name the inventory's known_hosts file, not the default one.
    """
    path = Path(os.environ.get("TRAINBED_INVENTORY") or default_yaml)
    try:
        inventory = load_inventory(path).inventory
    except InventoryError as err:
        print(err, file=sys.stderr)
        raise SystemExit(1) from None
    install_pyinfra_hint(inventory.ssh.known_hosts_file)
    return pyinfra_groups(inventory)
