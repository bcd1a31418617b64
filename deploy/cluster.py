"""Entry point: `pyinfra inventory/<site>.py deploy/cluster.py` provisions every node.

Each role is a module beside this one; it applies its part of the host's catalog
(`trainbed.catalog`) and decides nothing.
A host whose OS release differs from the inventory's is refused before anything changes on it.
The run ends with one line per failed host naming what failed it.
"""

from pyinfra import host, state
from pyinfra.operations import python

from deploy import context, summary
from deploy.base import base
from deploy.containers import containers
from deploy.facts import OsRelease
from deploy.infiniband import infiniband
from deploy.nvidia import nvidia
from deploy.slurm import slurm
from deploy.storage import storage
from trainbed.inventory.roles import is_compute


class WrongOperatingSystem(Exception):
    """The host runs another OS release than the inventory says."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


summary.install(state)
_expected = context.inventory().cluster.os_release
_actual = host.get_fact(OsRelease)
if _actual != _expected:
    # raise_exception(exception, *args, **kwargs) raises exception(*args, **kwargs) on the host.
    # Its arguments go by keyword: pyinfra types an operation's call with the global arguments
    # (_sudo, ...) ahead of the operation's own, so a positional argument would bind to those.
    python.raise_exception(
        exception=WrongOperatingSystem,
        message=f"{context.hostname()} runs {_actual or 'an unknown OS'}, the inventory says {_expected}: not touched",
        name="Check the OS release",
    )
else:
    base()
    if is_compute(context.node()):
        nvidia()
    infiniband()
    slurm()
    containers()
    storage()
