"""The node-local health program (`trainbed-health`), run by Slurm on every compute node and by
a systemd timer on the control-plane nodes (no drain there: they are not Slurm nodes).

It needs neither SSH nor the inventory: it reads the node's own catalog
(`/etc/trainbed/catalog.json`, its `health` block: `plan.HealthPlan`), gathers facts with bounded
commands (`facts`), judges them with the shared verdict modules (`judge`: `trainbed.verdicts`,
never a copy), decides whether to drain or resume the node in Slurm (`decide`) and records every
run (`state`). `node` is the thin I/O edge tying them together; `bundle` builds the
self-contained program the deploy installs (the package's own modules in a zipapp).

Only the standard library may be imported here (and by what it imports): the program runs with
the node's own python3, where trainbed's dependencies are not installed.
"""

#: Where the deploy installs the program (slurm.conf HealthCheckProgram).
PROGRAM_PATH = "/usr/local/sbin/trainbed-health"
#: Wrappers Slurm runs before and after each job (slurm.conf Prolog/Epilog take no arguments).
PROLOG_PATH = "/etc/slurm/trainbed-prolog"
EPILOG_PATH = "/etc/slurm/trainbed-epilog"
#: On control-plane nodes: the passive level every `health.interval_s`, judged only.
SERVICE_PATH = "/etc/systemd/system/trainbed-health.service"
TIMER_PATH = "/etc/systemd/system/trainbed-health.timer"
TIMER_UNIT = "trainbed-health.timer"
#: The run records: the last run's JSON document, and the counters carried between runs.
STATE_DIR = "/var/lib/trainbed/health"
#: Every drain reason the program writes starts with this; it resumes only such nodes.
TAG = "trainbed:"
#: The levels, in the order they grow.
LEVELS = ("passive", "prolog", "epilog")
