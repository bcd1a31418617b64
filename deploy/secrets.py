"""Secrets: read from where the user keeps them, pushed without ever reaching output or argv.

pyinfra's `files.put` can print a diff of what it uploads, so secret files go through
`put_secret`, which compares digests and uploads with the connector directly.
"""

from __future__ import annotations

import hashlib
import io
import os

from pyinfra import host
from pyinfra.api import OperationError
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.files import Sha256File
from pyinfra.operations import files, python

from trainbed.inventory import Inventory


class SecretMissing(OperationError):
    """A secret the inventory points at is not where it says."""


def slurmdbd_password(inventory: Inventory) -> str:
    """The accounting database password from the file or variable the inventory names."""
    accounting = inventory.slurm.accounting
    if accounting.database_password_env:
        value = os.environ.get(accounting.database_password_env)
        if not value:
            raise SecretMissing(
                f"environment variable {accounting.database_password_env} is not set "
                "(slurm.accounting.database_password_env)"
            )
        return value
    path = accounting.database_password_file
    assert path is not None
    try:
        value = path.read_text().strip()
    except OSError as err:
        raise SecretMissing(
            f"{path}: {err.strerror} (slurm.accounting.database_password_file)"
        ) from None
    if not value:
        raise SecretMissing(f"{path} is empty (slurm.accounting.database_password_file)")
    return value


class Secret:
    """Bytes whose repr never shows them (operation arguments appear in plans and debug output)."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def reveal(self) -> bytes:
        return self._data

    def __repr__(self) -> str:
        return "<secret>"


def _upload(secret: Secret, dest: str) -> None:
    if not host.put_file(io.BytesIO(secret.reveal()), dest):
        raise OperationError(f"upload of {dest} failed")


def put_secret(
    dest: str,
    data: bytes,
    mode: str = "0400",
    user: str = "root",
    group: str = "root",
    name: str = "",
) -> OperationMeta | None:
    """Ensure `dest` holds `data` with this ownership; the content never appears in any output.

    Returns the upload operation when the content differs (its `did_change` says it ran), else None.
    """
    upload = None
    if host.get_fact(Sha256File, path=dest) != hashlib.sha256(data).hexdigest():
        upload = python.call(
            name=name or f"Upload secret {dest}", function=_upload, secret=Secret(data), dest=dest
        )
    files.file(name=f"Own and protect {dest}", path=dest, user=user, group=group, mode=mode)
    return upload
