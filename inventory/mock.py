"""pyinfra inventory for the cluster in mock.yaml: `pyinfra inventory/mock.py deploy/cluster.py`.

Groups per node kind and role come from the validated inventory; an invalid mock.yaml stops pyinfra
with the same messages as `trainbed validate`.
"""

from pathlib import Path as _Path

from trainbed.inventory.pyinfra_module import groups_for as _groups_for

globals().update(_groups_for(_Path(__file__).with_suffix(".yaml")))
