"""``findmnt -J`` (util-linux): the mounted filesystems, as target, source, type and options.

``findmnt -J -T PATH -o TARGET,SOURCE,FSTYPE,OPTIONS`` names the filesystem PATH lives on (the
mount it is under, which is ``/`` when PATH is not a mount point itself). Nested mounts (a
tree, without ``-l``) come as ``children``; they are flattened here, parents first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Mounted:
    target: str
    source: str
    fstype: str
    options: tuple[str, ...] = ()


def _walk(entries: Any) -> Iterator[Mounted]:
    if not isinstance(entries, list):
        return
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        options = str(entry.get("options") or "")
        yield Mounted(
            target=str(entry.get("target") or ""),
            source=str(entry.get("source") or ""),
            fstype=str(entry.get("fstype") or ""),
            options=tuple(o for o in options.split(",") if o),
        )
        yield from _walk(entry.get("children"))


def parse_findmnt(text: str) -> list[Mounted]:
    """Every filesystem in ``findmnt -J`` output; empty when ``text`` is not such output."""
    start = text.find("{")
    if start < 0:
        return []
    try:
        doc, _ = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError:
        return []
    if not isinstance(doc, dict):
        return []
    return list(_walk(doc.get("filesystems")))
