#!/usr/bin/env python3
"""Ansible script inventory over the trainbed YAML: `ansible-playbook -i inventory/ansible.py ...`.

The YAML file is `$TRAINBED_INVENTORY`, default `prod.yaml` beside this script. Groups and host
variables are the pyinfra inventory's; values are plain (not templated). `trainbed` is the
installed package (`pip install .`, or `-e .` in a checkout) of the python3 that runs this.
"""

import json
import os
import sys
from pathlib import Path

from trainbed.inventory import InventoryError, load_inventory
from trainbed.inventory.export import ansible_inventory


def main(argv: list[str]) -> int:
    path = Path(os.environ.get("TRAINBED_INVENTORY") or Path(__file__).with_name("prod.yaml"))
    try:
        inventory = load_inventory(path).inventory
    except InventoryError as err:
        print(err, file=sys.stderr)
        return 1
    if len(argv) > 1 and argv[1] == "--host":
        # _meta.hostvars in --list answers every host, so Ansible never asks; answer anyway.
        print(json.dumps(ansible_inventory(inventory)["_meta"]["hostvars"].get(argv[2], {})))
        return 0
    print(json.dumps(ansible_inventory(inventory), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
