"""Push the catalog's files, uploading only those that differ on the host.

One fact per push reads every file's digest, mode and owner, so a run that changes nothing adds no
operation for them. The returned map holds the upload operation of each file that differs (None for
the others); triggers read it at execution time to decide restarts.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable

from pyinfra import host
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files

from deploy.facts import FileStates
from trainbed.catalog.model import File


def _state(f: File) -> tuple[str, str]:
    assert f.content is not None
    return (f"{int(f.mode, 8):o}:{f.owner}:{f.group}", hashlib.sha1(f.content.encode()).hexdigest())


def push(catalog_files: Iterable[File]) -> dict[str, OperationMeta | None]:
    """Upload every file with content where the host's copy differs; path → its upload."""
    rendered = [f for f in catalog_files if f.content is not None and not f.secret]
    if not rendered:
        return {}
    on_host = host.get_fact(FileStates, paths=tuple(f.path for f in rendered))
    return {
        f.path: (
            None
            if on_host.get(f.path) == _state(f)
            else files.put(
                name=f"Render {f.path}",
                src=io.StringIO(f.content),
                dest=f.path,
                mode=f.mode,
                user=f.owner,
                group=f.group,
                create_remote_dir=True,
            )
        )
        for f in rendered
    }


def changed(*ops: OperationMeta | None) -> bool:
    """At execution time: did any of these operations change the host?"""
    return any(op is not None and op.did_change() for op in ops)
