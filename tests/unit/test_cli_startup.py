"""Start-up cost: the CLI imports nothing heavy that only one command needs."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from trainbed.cli import COMMANDS, main

#: Modules only some commands need: plots (matplotlib alone is ~0.35 s), SSH, templates, schema
#: validation, the deploy, YAML.
HEAVY = (
    "matplotlib",
    "numpy",
    "jsonschema",
    "jsonschema_rs",
    "jinja2",
    "paramiko",
    "pyinfra",
    "yaml",
    "pytest",
    "trainbed.inventory",
    "trainbed.remote",
)


def _imported_by(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", HEAVY)
def test_cli_start_does_not_import(module: str) -> None:
    assert module not in _imported_by("import trainbed.cli"), (
        f"`import trainbed.cli` imports {module}"
    )


def test_help_imports_no_command_module() -> None:
    code = (
        "import sys\nsys.argv = ['trainbed', '--help']\nimport trainbed.cli\n"
        "try:\n    trainbed.cli.main()\nexcept SystemExit:\n    pass"
    )
    loaded = _imported_by(code)
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert not {m for m in loaded if m.startswith("trainbed.cli.")}


def _eager_help() -> str:
    eager = click.Group(
        "trainbed", help=main.help, params=main.params, context_settings=main.context_settings
    )
    for module in sorted({m for m, _ in COMMANDS.values()}):
        for command in importlib.import_module(module).COMMANDS:
            eager.add_command(command)
    return CliRunner().invoke(eager, ["--help"], prog_name="trainbed").output


def test_help_lists_every_command_as_click_would() -> None:
    assert CliRunner().invoke(main, ["--help"], prog_name="trainbed").output == _eager_help()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_one_line_help_is_the_commands_own(name: str) -> None:
    module, summary = COMMANDS[name]
    command = main.get_command(click.Context(main), name)
    assert command is not None and command.name == name
    assert command.callback is not None and command.callback.__module__ == module
    first = " ".join((command.help or "").split("\n\n")[0].split())
    assert first == summary
