"""The `trainbed` command: one click group, one module per command, imported when it runs.

Each command module pulls in what its command needs (jsonschema, Jinja, paramiko, pyinfra,
matplotlib); importing them all at start made `trainbed --help` cost half a second. The group
knows each command's module and one-line help, and imports the module only to run the command
(or show its own help). tests/unit/test_cli_startup.py holds the one-line helps to the commands'.
"""

from __future__ import annotations

import importlib

import click
from click.formatting import HelpFormatter

from trainbed import __version__

#: Command → (the module whose COMMANDS list defines it, the first sentence of its help).
COMMANDS: dict[str, tuple[str, str]] = {
    "accept": (
        "trainbed.cli.accept_commands",
        "Accept INVENTORY's cluster: checks, probe suites (nccl, ib, storage, training), report.",
    ),
    "baseline": (
        "trainbed.cli.probe_commands",
        "Build a fleet baseline from RESULTS (results.json files or run directories).",
    ),
    "check": (
        "trainbed.cli.check_commands",
        "Acceptance checks of every node against INVENTORY (a thin wrapper over pytest on the "
        "installed suite).",
    ),
    "health": (
        "trainbed.cli.health_commands",
        "Each node's last trainbed-health run (result, level, age) and, for compute nodes, its "
        "Slurm state (control-plane nodes run it from a timer: `-`).",
    ),
    "init": (
        "trainbed.cli.inventory_commands",
        "Print a valid reference-design inventory to edit (addresses, rails, HCAs, switches, "
        "exports).",
    ),
    "parse": (
        "trainbed.cli.parse",
        "Parse benchmark or hardware-tool output saved to a file ('-' reads stdin).",
    ),
    "plan": (
        "trainbed.cli.plan_commands",
        "Size training MODEL on INVENTORY's compute nodes with the paper's arithmetic, "
        "generalised.",
    ),
    "probe": (
        "trainbed.cli.probe_commands",
        "Bandwidth probes (NCCL all_reduce, ib_write_bw) through Slurm.",
    ),
    "render": (
        "trainbed.cli.render_commands",
        "Write every file the deploy would push, as OUT/<host>/<path on the node>.",
    ),
    "report": (
        "trainbed.cli.probe_commands",
        "Render the reports again from DIRECTORY: a probe run's results.json (report.md, "
        "junit.xml, heatmap PNG, report.html), or a `trainbed accept` directory's acceptance.json "
        "(its probe/ reports, acceptance.md and the one HTML report, report.html).",
    ),
    "validate": (
        "trainbed.cli.inventory_commands",
        "Validate INVENTORY against the schema and the reference design's rules.",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are imported from `COMMANDS` on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            for command in importlib.import_module(COMMANDS[cmd_name][0]).COMMANDS:
                self.add_command(command)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: HelpFormatter) -> None:
        """click.Group's listing, from the one-line helps: no command module is imported."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in COMMANDS:
                text = click.utils.make_default_short_help(COMMANDS[name][1], limit)
            else:
                text = self.commands[name].get_short_help_str(limit)
            rows.append((name, text))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trainbed")
def main() -> None:
    """Provision and validate a GPU training cluster from one YAML inventory."""
