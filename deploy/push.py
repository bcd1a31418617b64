"""Push rendered files; each op's `did_change` tells the role what to restart."""

from __future__ import annotations

import io

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files

from trainbed.render import RenderedFile


def push(rendered: list[RenderedFile]) -> dict[str, OperationMeta]:
    """Upload every file as the renderer made it; path → the upload's operation."""
    return {
        f.path: files.put(
            name=f"Render {f.path}",
            src=io.StringIO(f.content),
            dest=f.path,
            mode=f.mode,
            user=f.user,
            group=f.group,
            create_remote_dir=True,
        )
        for f in rendered
    }


def changed(*ops: OperationMeta | None) -> bool:
    """At execution time: did any of these operations change the host?"""
    return any(op is not None and op.did_change() for op in ops)
