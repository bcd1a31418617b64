"""`trainbed render`: every generated file, per host, for review and diff; no SSH."""

from __future__ import annotations

import os
from pathlib import Path

import click

from trainbed.catalog import compile_catalog, node_files
from trainbed.cli.common import load_or_exit


def write_rendered(files: dict[str, dict[str, str]], out: Path) -> int:
    """Write `{host: {path on node: content}}` under `out/<host>/<path>`; return the file count.

    Content shared by several hosts (slurm.conf, /etc/hosts: one string per inventory) is written
    once; the other hosts' copies are hard links to it, where the file system allows.
    """
    count = 0
    written: dict[int, tuple[str, Path]] = {}  # id(content) → (content, first path written)
    made: set[Path] = set()
    for host, by_path in files.items():
        for path, content in by_path.items():
            target = out / host / path.lstrip("/")
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            first = written.get(id(content))
            if first is None or not _link(first[1], target):
                target.write_text(content)
                written[id(content)] = (content, target)  # holds the string: its id stays unique
            count += 1
    return count


def _link(source: Path, target: Path) -> bool:
    """Hard-link `target` to `source` (replacing what is there); False where links fail."""
    try:
        target.unlink(missing_ok=True)
        os.link(source, target)
    except OSError:
        return False
    return True


@click.command()
@click.argument("inventory", type=click.Path(path_type=str))
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--host", "hosts", multiple=True, help="Only these hosts (repeatable).")
def render(inventory: str, out: Path, hosts: tuple[str, ...]) -> None:
    """Write every file the deploy would push, as OUT/<host>/<path on the node>.

    Each host's catalog comes with them, as OUT/<host>/etc/trainbed/catalog.json (secrets
    redacted). slurmdbd.conf carries a placeholder where the deploy puts the database password.
    """
    inv = load_or_exit(inventory)
    known = [node.hostname for node in inv.nodes]
    unknown = [h for h in hosts if h not in known]
    if unknown:
        raise click.BadParameter(f"not in {inventory}: {', '.join(unknown)}", param_hint="--host")
    if out.exists() and not out.is_dir():
        raise click.BadParameter(f"{out} exists and is not a directory", param_hint="--out")
    selected = list(hosts) or known
    files = {host: node_files(compile_catalog(inv, host)) for host in selected}
    count = write_rendered(files, out)
    click.echo(f"wrote {count} files for {len(selected)} host(s) under {out}")


COMMANDS = (render,)
