"""Parser for ``journalctl -o json`` (one JSON object per line), and the XID events in it.

Never raises: a line that is not a JSON object is skipped. ``MESSAGE`` is a string, or (when
the message is not valid UTF-8) an array of byte values, which is decoded with replacement;
``__REALTIME_TIMESTAMP`` is microseconds since the epoch as a decimal string (systemd's
journal export format, ``man systemd.journal-fields``). No real sample of this output is in the
fixture set: the tests build lines in this documented form, labelled as constructed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from trainbed.parse.dmesg import XidEvent, parse_kernel_log


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One journal entry: its wall-clock time (UTC; None when absent) and message."""

    time: datetime | None
    message: str


def _message(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value).decode("utf-8", "replace")
    return None


def _time(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(str(value)) / 1e6, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def parse_journal_json(text: str) -> list[JournalEntry]:
    """Entries in output order; entries without a readable ``MESSAGE`` are left out."""
    entries: list[JournalEntry] = []
    for line in text.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        message = _message(doc.get("MESSAGE"))
        if message is not None:
            entries.append(JournalEntry(_time(doc.get("__REALTIME_TIMESTAMP")), message))
    return entries


def journal_xids(text: str) -> list[XidEvent]:
    """The XID/SXID events in the kernel messages of ``journalctl -o json`` output, each timed by
    its journal entry (``line`` is the entry's position, from 1)."""
    events: list[XidEvent] = []
    for number, entry in enumerate(parse_journal_json(text), start=1):
        for event in parse_kernel_log(entry.message):
            when = entry.time.isoformat() if entry.time else event.time
            events.append(replace(event, line=number, time=when, stamp=event.stamp or when))
    return events
