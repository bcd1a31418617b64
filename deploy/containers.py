"""containers: enroot and the pyxis SPANK plugin, so srun can start tasks in container images.

The catalog gives compute nodes enroot (+caps), pyxis, enroot.conf, its directories and pyxis in
plugstack.conf; login and submit nodes pyxis and plugstack.conf only, because srun and sbatch parse
the `--container-*` options where they run. slurmd loads SPANK plugins at start, so it restarts
when plugstack changes and only then (the catalog's trigger), then is proved active.
"""

from __future__ import annotations

from pyinfra.api import deploy

from deploy import context, triggers
from deploy.base import daemon_of, install_locked
from deploy.daemons import prove
from deploy.push import push


@deploy("containers")
def containers() -> None:
    catalog = context.role("containers")
    if not catalog.packages:
        return
    install_locked(catalog.packages, "Containers")
    pushed = push(catalog.files, catalog.directories)
    whole = context.catalog()
    for trigger in catalog.triggers:
        restart = triggers.apply(trigger, pushed, ignore_errors=True)
        if trigger.unit is not None and whole.has_unit(trigger.unit):
            unit = daemon_of(whole.unit(trigger.unit))
            prove([(unit, [restart])], f"{unit.unit} active (SPANK plugins)")
