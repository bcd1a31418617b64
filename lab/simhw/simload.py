"""The simulators of sim/ from the test suite, as a node runs them: modules by their bare names.

On a node they sit together in one directory (`/usr/lib/trainbed-sim/PACKAGE`) and import each other
(`import hwdesc`) by name. Here a subprocess gets that directory on ``PYTHONPATH``
(:func:`sim_env`), and an in-process test loads a module from its file into ``sys.modules``
(:func:`sim_module`), so neither touches ``sys.path``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

SIM_DIR = Path(__file__).resolve().parent / "sim"


def sim_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) with sim/ first on PYTHONPATH."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SIM_DIR), env.get("PYTHONPATH")) if p)
    return env


def sim_module(name: str) -> ModuleType:
    """sim/NAME.py as the module NAME (hwdesc first, which every simulator imports)."""
    if name in sys.modules:
        return sys.modules[name]
    if name != "hwdesc":
        sim_module("hwdesc")
    spec = importlib.util.spec_from_file_location(name, SIM_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
