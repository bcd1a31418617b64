"""The `trainbed` command: one click group, one module per command."""

from __future__ import annotations

import importlib

import click

from trainbed import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trainbed")
def main() -> None:
    """Provision and validate a GPU training cluster from one YAML inventory."""


# Modules that export a COMMANDS list, one per concern.
_COMMAND_MODULES = [
    "trainbed.cli.inventory_commands",
    "trainbed.cli.parse",
    "trainbed.cli.render_commands",
    "trainbed.cli.plan_commands",
    "trainbed.cli.probe_commands",
    "trainbed.cli.check_commands",
    "trainbed.cli.health_commands",
    "trainbed.cli.accept_commands",
]


def _register() -> None:
    # Imported here so each command module can import `main`-free helpers without cycles.
    for name in _COMMAND_MODULES:
        for command in importlib.import_module(name).COMMANDS:
            main.add_command(command)


_register()
