"""containers: enroot and the pyxis SPANK plugin, so srun can start tasks in container images.

Compute nodes get enroot (+caps), pyxis, /etc/enroot/enroot.conf and pyxis in plugstack.conf;
login and submit nodes get pyxis and plugstack.conf only, because srun and sbatch parse the
`--container-*` options where they run. slurmd loads SPANK plugins at start, so it restarts when
plugstack changes and only then.
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files, systemd

from deploy import context
from deploy.base import install_locked
from deploy.daemons import Daemon, prove
from deploy.push import changed, push
from trainbed.inventory.model import ComputeNode
from trainbed.render.containers import PLUGSTACK_PATH, PYXIS_CONF_PATH, enroot_directories
from trainbed.render.packages import containers_packages
from trainbed.render.slurm import DAEMON_LOG_FILES, DAEMON_PORTS


@deploy("containers")
def containers() -> None:
    inv = context.inventory()
    node = context.node()
    packages = containers_packages(inv, node)
    if not packages:
        return
    install_locked(packages, "Containers (enroot, pyxis)")
    if isinstance(node, ComputeNode):
        for path in enroot_directories(inv, node):
            files.directory(name=f"enroot directory {path}", path=path, mode="1777")
    pushed = push(context.files("containers"))
    if isinstance(node, ComputeNode):
        plugstack = (pushed[PLUGSTACK_PATH], pushed[PYXIS_CONF_PATH])
        restart = systemd.service(
            name="Restart slurmd (SPANK plugins changed)",
            service="slurmd",
            restarted=True,
            _if=lambda: changed(*plugstack),
            _ignore_errors=True,
        )
        slurmd = Daemon("slurmd", DAEMON_PORTS["slurmd"], DAEMON_LOG_FILES["slurmd"])
        prove([(slurmd, [restart])], "slurmd active (SPANK plugins)")
