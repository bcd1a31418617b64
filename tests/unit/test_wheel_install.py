"""The package is self-contained: `pip install .` (not editable) into a fresh venv, then the CLI and
the acceptance suite's pytest plugin from a directory outside the checkout.

A plain venv (no ``--system-site-packages``): pip resolves every dependency from the configured
index (PyPI), about 30 s with a warm pip cache, so it stays in the fast suite. Only what the wheel is
built from (pyproject.toml, README.md, trainbed/) is copied to a temporary directory first, so the
build writes no ``build/`` or ``*.egg-info`` into the checkout. Nothing from the checkout is on
``PYTHONPATH`` in the venv's commands, and they run in a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PROD_YAML, REPO

Run = Callable[..., subprocess.CompletedProcess[str]]
#: This process's environment without what points at the checkout.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TRAINBED_INVENTORY")}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The venv's bin/ with trainbed installed from a copy of the source."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(
        REPO / "trainbed", src / "trainbed", ignore=shutil.ignore_patterns("__pycache__")
    )
    subprocess.run(
        [sys.executable, "-m", "venv", str(root / "venv")], env=CLEAN_ENV, check=True, timeout=120
    )
    bin_dir = root / "venv" / "bin"
    proc = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", "."],
        cwd=src,
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shutil.rmtree(src)  # the venv must not need the source any more
    return bin_dir


@pytest.fixture(scope="module")
def run(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """`run(*argv)`: a venv command in a temporary directory holding a copy of inventory/prod.yaml."""
    work = tmp_path_factory.mktemp("elsewhere")
    shutil.copy(PROD_YAML, work / "prod.yaml")
    for name in ("keys", "known_hosts"):  # the files the inventory names, where it has them
        path = PROD_YAML.parent / name
        if path.is_dir():
            shutil.copytree(path, work / name)
        elif path.is_file():
            shutil.copy(path, work / name)
    env = dict(CLEAN_ENV)
    env["PATH"] = os.pathsep.join([str(venv), env.get("PATH", "")])

    def run_(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(venv / argv[0]), *argv[1:]],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run_


def test_installed_from_site_packages_not_the_checkout(run: Run) -> None:
    proc = run("python", "-c", "import trainbed; print(trainbed.__file__)")
    assert proc.returncode == 0, proc.stderr
    installed = Path(proc.stdout.strip())
    assert "site-packages" in installed.parts
    assert REPO not in installed.parents


def test_validate(run: Run) -> None:
    proc = run("trainbed", "validate", "prod.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "prod.yaml: valid: 3 control-plane and 6 compute nodes" in proc.stdout


def test_render(run: Run, tmp_path: Path) -> None:
    proc = run("trainbed", "render", "prod.yaml", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {"cp1", "gpu01"} <= {p.name for p in (tmp_path / "out").iterdir()}


def test_probe_plan(run: Run) -> None:
    proc = run("trainbed", "probe", "plan", "prod.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("ib_write_bw: 15 pairs × 8 rails")


def test_check_help(run: Run) -> None:
    proc = run("trainbed", "check", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Usage: trainbed check [OPTIONS] INVENTORY" in proc.stdout


def test_pytest_knows_the_plugins_options(run: Run) -> None:
    proc = run("python", "-m", "pytest", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "trainbed acceptance checks:" in proc.stdout
    assert "--inventory=INVENTORY" in proc.stdout and "--limit=PATTERN" in proc.stdout


def test_the_installed_suite_collects(run: Run) -> None:
    """By hand (`--pyargs`, the entry point alone) and as `trainbed check` runs it (ids unchanged)."""
    by_hand = run(
        "python", "-m", "pytest", "--pyargs", "trainbed.checks", "--inventory", "prod.yaml",
        "--collect-only", "-q", "-p", "no:cacheprovider",
    )  # fmt: skip
    assert by_hand.returncode == 0, by_hand.stdout + by_hand.stderr
    assert "test_hca_port[gpu01-mlx5_0]" in by_hand.stdout
    code = (
        "import subprocess, sys; from trainbed.checks.run import pytest_args; "
        "args = pytest_args('prod.yaml', 'junit.xml'); "
        "sys.exit(subprocess.run([*args, '--collect-only']).returncode)"
    )
    as_check = run("python", "-c", code)
    assert as_check.returncode == 0, as_check.stdout + as_check.stderr
    assert "checks/test_infiniband.py::test_hca_port[gpu01-mlx5_0]" in as_check.stdout
