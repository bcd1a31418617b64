"""The health program as the deploy installs it: a zipapp of this package's own modules.

Compute nodes have python3 but not trainbed's dependencies, so the program carries the modules
it imports — `trainbed.health`, `trainbed.parse`, `trainbed.verdicts`, `trainbed.hostlist` (all
standard library only) — as they are in the installed package: the same verdict code, never a
copy kept by hand. The archive is byte-for-byte reproducible (sorted names, fixed timestamps), so
the deploy uploads it only when the package changed.
"""

from __future__ import annotations

import functools
import hashlib
import io
import zipfile
from importlib.resources import files

#: `File.build` of the program in the catalog.
NAME = "trainbed-health"
#: What the program imports: packages (every module in them) and single modules.
PACKAGES = ("health", "parse", "verdicts")
MODULES = ("__init__.py", "hostlist.py")
INTERPRETER = "/usr/bin/python3"
MAIN = "import sys\nfrom trainbed.health.node import main\n\nsys.exit(main())\n"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _sources() -> list[tuple[str, bytes]]:
    root = files("trainbed")
    out = [(f"trainbed/{name}", root.joinpath(name).read_bytes()) for name in MODULES]
    for package in PACKAGES:
        for entry in root.joinpath(package).iterdir():
            if entry.name.endswith(".py"):
                out.append((f"trainbed/{package}/{entry.name}", entry.read_bytes()))
    out.append(("__main__.py", MAIN.encode()))
    return sorted(out)


@functools.cache
def build() -> bytes:
    """The program: ``#!/usr/bin/python3`` and a zip archive (python3 runs it as a zipapp).

    Built once per process: the deploy and the catalog check ask for it once per host."""
    buffer = io.BytesIO()
    buffer.write(f"#!{INTERPRETER} -I\n".encode())
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in _sources():
            info = zipfile.ZipInfo(name, _EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


@functools.cache
def sha256() -> str:
    return hashlib.sha256(build()).hexdigest()
