"""Cluster-wide content computed once per inventory, shared by every host's files and catalog.

slurm.conf, gres.conf, topology.conf and /etc/hosts name every node: rendered per host they would
make a cluster's rendering quadratic in its size. `per_inventory` memoises such a function on the
inventory object itself (a validated inventory is immutable), so each host gets the same string.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import TypeVar

from trainbed.inventory.model import Inventory

T = TypeVar("T")


def per_inventory(fn: Callable[[Inventory], T]) -> Callable[[Inventory], T]:
    """`fn(inventory)` computed once per inventory object; forgotten when the inventory is."""
    cache: dict[int, tuple[weakref.ref[Inventory], T]] = {}

    def forget(key: int) -> Callable[[weakref.ref[Inventory]], None]:
        def drop(_ref: weakref.ref[Inventory]) -> None:
            cache.pop(key, None)

        return drop

    @functools.wraps(fn)
    def cached(inventory: Inventory) -> T:
        key = id(inventory)
        hit = cache.get(key)
        if hit is not None and hit[0]() is inventory:
            return hit[1]
        value = fn(inventory)
        cache[key] = (weakref.ref(inventory, forget(key)), value)
        return value

    return cached
