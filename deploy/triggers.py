"""The catalog's triggers as pyinfra conditions and operations.

A trigger fires when an operation that wrote one of its files changed the host (pyinfra's
`any_changed`) and none that wrote an `unless` file did. Restarts of daemons a role manages go into
that daemon's `restart_when`; every other action is one operation here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import apt, server, systemd
from pyinfra.operations.util import any_changed

from trainbed.catalog.model import Catalog, Trigger

Ops = Mapping[str, OperationMeta | None]


def fires(trigger: Trigger, ops: Ops) -> Callable[[], bool]:
    """At execution time: did a write of a watched file change the host, and no `unless` one?"""
    watched = any_changed(*(op for p in trigger.on if (op := ops.get(p)) is not None))
    vetoed = any_changed(*(op for p in trigger.unless if (op := ops.get(p)) is not None))
    return lambda: watched() and not vetoed()


def restart_when(catalog: Catalog, unit: str, ops: Ops) -> Callable[[], bool] | None:
    """The condition restarting `unit` in this role, or None when no trigger restarts it."""
    conditions = [
        fires(t, ops) for t in catalog.triggers if t.action == "restart" and t.unit == unit
    ]
    if not conditions:
        return None
    return lambda: any(c() for c in conditions)


def apply(trigger: Trigger, ops: Ops, ignore_errors: bool = False) -> OperationMeta:
    """One operation carrying out `trigger` when it fires."""
    when = fires(trigger, ops)
    if trigger.action == "restart":
        assert trigger.unit is not None
        return systemd.service(
            name=trigger.name,
            service=trigger.unit,
            restarted=True,
            _if=when,
            _ignore_errors=ignore_errors,
        )
    if trigger.action == "daemon-reload":
        return systemd.daemon_reload(name=trigger.name, _if=when)
    if trigger.action == "apt-update":
        return apt.update(name=trigger.name, _if=when)
    assert trigger.command is not None
    return server.shell(name=trigger.name, commands=[trigger.command], _if=when)
