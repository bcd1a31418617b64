"""The pytest plugin of the acceptance suite: its command-line options, known to every pytest run.

Registered under the ``pytest11`` entry point (pyproject), so wherever the package is installed
``pytest --pyargs trainbed.checks --inventory inventory/prod.yaml`` (or the suite's path) parses
``--inventory``, ``--level`` and ``--limit``. The entry point's name is this module's name, so an explicit
``-p trainbed.checks.plugin`` (what `trainbed check` passes, for an environment installed before
the entry point existed) is the same plugin, not a second one.

Only the options live here: the hosts, fixtures and the SSH pre-pass are the suite's conftest
(``trainbed/checks/conftest.py``), active only where the suite itself is collected, so an unrelated
pytest run in the same environment never reads an inventory.
"""

from __future__ import annotations

import os

import pytest

from trainbed.inventory.model import LEVELS

DEFAULT_INVENTORY = "inventory/prod.yaml"
DEFAULT_LEVEL = LEVELS[0]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("trainbed", "trainbed acceptance checks")
    group.addoption(
        "--inventory",
        default=os.environ.get("TRAINBED_INVENTORY") or DEFAULT_INVENTORY,
        help=f"inventory YAML (default: $TRAINBED_INVENTORY, else {DEFAULT_INVENTORY})",
    )
    group.addoption(
        "--level",
        default=os.environ.get("TRAINBED_LEVEL") or DEFAULT_LEVEL,
        choices=LEVELS,
        help=(
            "how deep the hardware health checks go: quick (dcgmi diag -r 1, seconds), standard "
            "(-r 2, minutes), burn-in (-r 3 and nvbandwidth, about 15 min per node); default: "
            f"$TRAINBED_LEVEL, else {DEFAULT_LEVEL}"
        ),
    )
    group.addoption(
        "--limit",
        default=None,
        metavar="PATTERN",
        help="only these hosts: group names or hostname globs, comma-separated",
    )
