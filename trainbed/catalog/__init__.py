"""One compiled state per host: the catalog the deploy applies, the checks verify, the node reads.

`compile_catalog(inventory, hostname)` lists every file, package, user, group, directory, unit,
kernel module and trigger trainbed manages on the host (`trainbed.catalog.model`). The deploy
installs its JSON (secrets redacted) as `/etc/trainbed/catalog.json`.
"""

from trainbed.catalog.compile import compile_catalog, compile_cluster
from trainbed.catalog.model import CATALOG_PATH, Catalog, node_files

__all__ = ["CATALOG_PATH", "Catalog", "compile_catalog", "compile_cluster", "node_files"]
