"""The `trainbed` command: one click group, one module per command."""

from __future__ import annotations

import click

from trainbed import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trainbed")
def main() -> None:
    """Provision and validate a GPU training cluster from one YAML inventory."""


def _register() -> None:
    # Imported here so each command module can import `main`-free helpers without cycles.
    from trainbed.cli import inventory_commands

    for command in inventory_commands.COMMANDS:
        main.add_command(command)


_register()
