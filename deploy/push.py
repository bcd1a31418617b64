"""Push the catalog's files and directories, writing only those that differ on the host.

One fact per push reads what every file, directory and parent directory of a file is (with a
file's digest, mode and owner), so a run that changes nothing adds no operation for them. The files
that differ are written by one operation (uploads, then one chown and one chmod per owner and mode);
the returned map holds that operation for each file it writes (None for the others), which triggers
read at execution time to decide restarts.

The write does what pyinfra's ``files.put`` with ``create_remote_dir`` does, from that one reading
instead of three facts per file: a parent directory missing when the deploy read the host is made
as ``create_remote_dir`` makes it (``mkdir -p``, then owned by the file's user and group, its mode
left alone), once per host and run, by the first write into it, and only if it is still missing
then. A parent that exists as something else than a directory or a link, or a destination that
is a directory, stops the run at the write with pyinfra's error, as ``files.put`` does. A directory
of the catalog that differs is left to pyinfra's ``files.directory``.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import shlex
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from weakref import WeakKeyDictionary

from pyinfra import host, logger, state
from pyinfra.api import (
    FileUploadCommand,
    OperationError,
    OperationTypeError,
    QuoteString,
    operation,
)
from pyinfra.api.command import PyinfraCommand, StringCommand
from pyinfra.api.host import Host
from pyinfra.api.operation import OperationMeta
from pyinfra.context import ctx_host
from pyinfra.facts.files import FileContents
from pyinfra.operations import files
from pyinfra.operations.util.files import generate_color_diff

from deploy.facts import FileStates
from trainbed.catalog.model import Directory, File
from trainbed.health import bundle

#: What the deploy builds a catalog file from (`File.build`).
BUILDERS = {bundle.NAME: bundle.build}

#: Per host, the parent directories an upload of this run makes (so the next one does not).
_made: WeakKeyDictionary[Host, set[str]] = WeakKeyDictionary()


@dataclass(frozen=True)
class Upload:
    """One file to write: its bytes, mode and owner, and what was at its path (`FileStates`)."""

    path: str
    data: bytes = field(repr=False)
    mode: str
    user: str
    group: str
    existing: str | None = None


def _data(f: File) -> bytes | None:
    """The bytes the node must hold, or None where the deploy does not push the file."""
    if f.secret:
        return None
    if f.content is not None:
        return f.content.encode()
    if f.build is not None:
        return BUILDERS[f.build]()
    if f.source is not None:  # a local file, relative to the deploy directory as files.put takes it
        return Path(os.path.join(state.cwd or "", f.source)).read_bytes()
    return None


def _same_directory(d: Directory, there: tuple[str, ...] | None) -> bool:
    """Is `there` (`FileStates`) the directory `d`, with its mode and (where it sets one) owner?"""
    if there is None or there[0] != "directory":
        return False
    mode, user, group = there[1].split(":")
    return mode == f"{int(d.mode, 8):o}" and (
        d.owner is None or (user, group) == (d.owner, d.group)
    )


def _state(f: File, data: bytes) -> tuple[str, ...]:
    return ("file", f"{int(f.mode, 8):o}:{f.owner}:{f.group}", hashlib.sha1(data).hexdigest())


def push(
    catalog_files: Iterable[File], directories: Iterable[Directory] = ()
) -> dict[str, OperationMeta | None]:
    """The role's `directories` (each as ``files.directory`` makes it, where it differs), then every
    file the deploy pushes where the host's copy differs, written by one operation; path → that
    operation for the files it writes, None for the others."""
    pushed = [(f, data) for f in catalog_files if (data := _data(f)) is not None]
    dirs = tuple(directories)
    if not pushed and not dirs:
        return {}
    parents = sorted({posixpath.dirname(f.path) for f, _ in pushed} - {""})
    on_host = host.get_fact(
        FileStates, paths=(*(d.path for d in dirs), *(f.path for f, _ in pushed), *parents)
    )
    for d in dirs:
        if not _same_directory(d, on_host.get(d.path)):
            files.directory(
                name=f"Directory {d.path}",
                path=d.path,
                mode=d.mode,
                user=d.owner,
                group=d.group if d.owner else None,
            )
    differ = [
        Upload(f.path, data, f.mode, f.owner, f.group, (on_host.get(f.path) or (None,))[0])
        for f, data in pushed
        if on_host.get(f.path) != _state(f, data)
    ]
    if not differ:
        return {f.path: None for f, _ in pushed}
    made = _made.setdefault(ctx_host.get(), set())
    make: dict[str, tuple[str, str]] = {}
    blocked = []
    for u in differ:
        parent = posixpath.dirname(u.path)
        there = on_host.get(parent, ("missing",))[0]
        if parent and there == "missing" and parent not in made:
            make.setdefault(parent, (u.user, u.group))
        elif there == "other":
            blocked.append(parent)
    made.update(make)
    op = write(
        name=f"Write {', '.join(u.path for u in differ)}",
        uploads=tuple(differ),
        make=tuple((d, *owner) for d, owner in make.items()),
        blocked=tuple(blocked),
    )
    written = {u.path for u in differ}
    return {f.path: op if f.path in written else None for f, _ in pushed}


@operation()
def write(
    uploads: tuple[Upload, ...],
    make: tuple[tuple[str, str, str], ...] = (),
    blocked: tuple[str, ...] = (),
) -> Generator[PyinfraCommand, None, None]:
    """Write `uploads`, with their modes and owners; first make the directories `make` names
    (path, user, group) where they are still missing. A parent in `blocked` (not a directory)
    or a destination that is a directory raises, as in `files.put`."""
    if blocked:
        raise OperationError(f"{blocked[0]} exists and is not a directory")
    for u in uploads:
        if u.existing == "directory":
            raise OperationTypeError(
                f"When `src` is a file-like object, `dest` must be a full file path, not a "
                f"directory ({u.path})"
            )
    if state.config.DIFF:  # all before the first command: a run that asks first shows them all
        for u in uploads:
            _log_diff(u.path, u.data, u.existing == "file")
    by_owner: dict[str, list[str]] = {}
    for path, user, group in make:
        by_owner.setdefault(f"{user}:{group}", []).append(path)
    for owner, dirs in by_owner.items():
        yield StringCommand(
            f'for d in {" ".join(map(shlex.quote, dirs))}; do [ -d "$d" ] || '
            f'{{ mkdir -p "$d" && chown {shlex.quote(owner)} "$d"; }} || exit 1; done'
        )
    temp_dir = (
        host.current_op_global_arguments.get("_temp_dir")
        if host.current_op_global_arguments
        else None
    )
    for u in uploads:
        yield FileUploadCommand(
            io.BytesIO(u.data),
            u.path,
            remote_temp_filename=host.get_temp_filename(u.path, temp_directory=temp_dir),
        )
    for command, value in (("chown", _owner), ("chmod", _mode)):  # one command per value
        targets: dict[str, list[str]] = {}
        for u in uploads:
            targets.setdefault(value(u), []).append(u.path)
        for v, paths in targets.items():
            yield StringCommand(command, v, *map(QuoteString, paths))


def _owner(u: Upload) -> str:
    return f"{u.user}:{u.group}"


def _mode(u: Upload) -> str:
    return f"{int(u.mode, 8):o}"


def _log_diff(dest: str, data: bytes, exists: bool) -> None:
    """What `files.put` prints under ``--diff``."""
    current = host.get_fact(FileContents, path=dest) if exists else None
    host.log(f"Will {'modify' if exists else 'create'} {dest}", logger.info)
    try:
        desired = data.decode().splitlines(keepends=True)
    except UnicodeDecodeError:
        logger.info("Binary file uploaded")
        return
    for line in generate_color_diff([line + "\n" for line in current or []], desired):
        logger.info("  %s", line)
    logger.info("")


def changed(*ops: OperationMeta | None) -> bool:
    """At execution time: did any of these operations change the host?"""
    return any(op is not None and op.did_change() for op in ops)
