"""What the rendered files say differently per Slurm release series (22.05 to 24.11).

One table, read from the inventory's `software.slurm.version` (never from the host): every key
trainbed renders is accepted by each series (checked against `read_config.c` and `cgroup.c` of
22.05.8 and 24.11.5; the conformance tier runs both); what differs is a value tied to what the
series ships or checks:

- the pid files of slurmctld and slurmdbd: from 23.11 Slurm's own units run both as `User=slurm`
  with `RuntimeDirectory=slurmctld` / `slurmdbd` (etc/*.service.in), so `/run/NAME.pid` is not
  writable ("Unable to open pidfile ... Permission denied"); their runtime directory is;
- the InnoDB buffer pool slurmdbd wants: `_check_database_variables` (accounting_storage_mysql.c)
  warns below half of 1 GiB up to 23.02 and of 4 GiB from 23.11 (log file 64M, lock wait 900 and
  `max_allowed_packet` 16M, MariaDB's default, are the same in each).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from trainbed.inventory.model import Inventory


@dataclass(frozen=True)
class SlurmSeries:
    """The per-series values of the rendered files."""

    name: str
    slurmctld_pid_file: str
    slurmdbd_pid_file: str
    #: MariaDB settings for slurmdbd: Slurm's recommendation (accounting.html) for the series.
    innodb: Mapping[str, str]


def _innodb(buffer_pool: str) -> Mapping[str, str]:
    return MappingProxyType(
        {
            "innodb_buffer_pool_size": buffer_pool,
            "innodb_log_file_size": "64M",
            "innodb_lock_wait_timeout": "900",
        }
    )


_ROOT_UNITS = {"slurmctld_pid_file": "/run/slurmctld.pid", "slurmdbd_pid_file": "/run/slurmdbd.pid"}
_SLURM_USER_UNITS = {
    "slurmctld_pid_file": "/run/slurmctld/slurmctld.pid",
    "slurmdbd_pid_file": "/run/slurmdbd/slurmdbd.pid",
}

SERIES: Mapping[str, SlurmSeries] = MappingProxyType(
    {
        "22.05": SlurmSeries("22.05", innodb=_innodb("1G"), **_ROOT_UNITS),
        "23.02": SlurmSeries("23.02", innodb=_innodb("1G"), **_ROOT_UNITS),
        "23.11": SlurmSeries("23.11", innodb=_innodb("4G"), **_SLURM_USER_UNITS),
        "24.11": SlurmSeries("24.11", innodb=_innodb("4G"), **_SLURM_USER_UNITS),
    }
)


def series_of(version: str) -> str:
    """`24.11.5` -> `24.11`."""
    return ".".join(version.split(".")[:2])


def slurm_series(inventory: Inventory) -> SlurmSeries:
    """The series of the inventory's Slurm (the inventory rules refuse an unsupported one)."""
    return SERIES[series_of(inventory.software.slurm.version)]
