"""Build the simulated-hardware .debs and a signed local apt repository (flat, ``./``).

dpkg-deb builds the packages, apt-ftparchive writes Packages and Release, gpg (a key generated per
cluster, no passphrase) signs InRelease and Release.gpg. The public key is exported as
``sim-archive-keyring.asc`` and ``.gpg``. The nodes see the repository read-only at
/srv/trainbed-sim-repo; the deploy adds the apt source and the key.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from lab.simhw.packages import PACKAGES

SIM_DIR = Path(__file__).resolve().parent / "sim"
ORIGIN = "trainbed-sim"
#: /usr/bin/PROG of a simulated package: loads its modules from LIBDIR by their bare names (they
#: import each other so: `import hwdesc`) into sys.modules, then runs the command's `main`.
WRAPPER = """\
#!/usr/bin/python3
# {package} {version}: simulated {prog} for the trainbed mock cluster
import importlib.util
import sys

for name in {load!r}:
    spec = importlib.util.spec_from_file_location(name, "{libdir}/" + name + ".py")
    sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules[name])
main = sys.modules["{module}"].main
sys.exit(main(prog=sys.argv[0]) if "prog" in main.__code__.co_varnames else main())
"""


def wrapper(package: str, spec: dict[str, Any], path: str, module: str, libdir: str = "") -> str:
    """The text of command PATH (running MODULE's main) of PACKAGE, its modules in LIBDIR."""
    load = [m for m in ("hwdesc",) if m in spec["modules"] and m != module] + [module]
    return WRAPPER.format(
        package=package,
        version=spec["version"],
        prog=Path(path).name,
        module=module,
        load=load,
        libdir=libdir or f"/usr/lib/trainbed-sim/{package}",
    )


def _run(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def architecture(spec: dict[str, Any]) -> str:
    """``all`` for Python simulators; the host's for packages with compiled plugins."""
    if not spec.get("c_plugins"):
        return "all"
    return _run(["dpkg", "--print-architecture"]).stdout.strip()


def control(name: str, spec: dict[str, Any]) -> str:
    """DEBIAN/control text."""
    lines = [
        f"Package: {name}",
        f"Version: {spec['version']}",
        f"Architecture: {architecture(spec)}",
        "Maintainer: trainbed mock <trainbed-mock@localhost>",
        "Section: misc",
        "Priority: optional",
        "Depends: " + ", ".join(spec.get("depends", ["python3"])),
    ]
    if spec.get("provides"):
        lines.append("Provides: " + ", ".join(spec["provides"]))
    lines.append(f"Description: {spec['description']}")
    lines.append(" Simulated hardware package of the trainbed containerized mock cluster.")
    return "\n".join(lines) + "\n"


def postinst(name: str, spec: dict[str, Any]) -> str:
    """DEBIAN/postinst: system users, unit enablement, device nodes (as real packages do)."""
    lines = ["#!/bin/sh", "set -e", 'if [ "$1" = configure ]; then', "  :"]
    for user in spec.get("system_users", []):
        lines.append(
            f"  getent passwd {user} >/dev/null || adduser --system --group "
            f"--no-create-home --home /nonexistent {user} >/dev/null 2>&1 || "
            f"useradd --system --user-group --no-create-home {user}"
        )
    for unit in spec.get("enable", []):
        lines.append(f"  deb-systemd-helper enable {unit} >/dev/null || true")
        lines.append(f"  if [ -d /run/systemd/system ]; then systemctl start {unit} || true; fi")
    for cmd in spec.get("postinst_run", []):
        lines.append(f"  {cmd} || true")
    if spec.get("units"):
        lines.append("  if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi")
    lines += ["fi", "exit 0"]
    return "\n".join(lines) + "\n"


def compile_plugin(source: Path, target: Path, include: Path | None = None) -> None:
    """A Slurm plugin (shared object) from C, against the host's Slurm headers (libslurm-dev),
    or those under ``include`` (``include/slurm/spank.h``: the nodes' Slurm when it is another).

    No libslurm link: the SPANK symbols resolve in srun, sbatch and slurmstepd at load time.
    """
    _run(
        [
            "gcc",
            *(("-I", str(include)) if include else ()),
            "-std=gnu11",
            "-O2",
            "-Wall",
            "-Wno-format-truncation",
            "-fPIC",
            "-shared",
            "-o",
            str(target),
            str(source),
        ]
    )


def build_package(
    name: str, spec: dict[str, Any], out_dir: Path, slurm_include: Path | None = None
) -> Path:
    """One .deb; returns its path."""
    with tempfile.TemporaryDirectory(prefix=f"simdeb-{name}-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        libdir = root / "usr/lib/trainbed-sim" / name
        if spec["modules"]:
            libdir.mkdir(parents=True)
        for module in spec["modules"]:
            shutil.copy(SIM_DIR / f"{module}.py", libdir / f"{module}.py")
        for path, module in spec["commands"].items():
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(wrapper(name, spec, path, module))
            target.chmod(0o755)
        for unit, text in spec.get("units", {}).items():
            target = root / "lib/systemd/system" / unit
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        for path, text in spec.get("files", {}).items():
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        for path, source in spec.get("copy", {}).items():
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(SIM_DIR / source, target)
        for path in spec.get("executables", []):
            (root / path.lstrip("/")).chmod(0o755)
        for path, source in spec.get("c_plugins", {}).items():
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            compile_plugin(SIM_DIR / source, target, slurm_include)
        debian = root / "DEBIAN"
        debian.mkdir()
        (debian / "control").write_text(control(name, spec))
        (debian / "postinst").write_text(postinst(name, spec))
        (debian / "postinst").chmod(0o755)
        if spec.get("conffiles"):
            (debian / "conffiles").write_text("\n".join(spec["conffiles"]) + "\n")
        version = spec["version"].split(":", 1)[-1]
        deb = out_dir / f"{name}_{version}_{architecture(spec)}.deb"
        _run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(deb)])
        return deb


def content_hash(slurm_include: Path | None = None) -> str:
    """Hash of everything that goes into the packages (to skip rebuilding)."""
    h = hashlib.sha256(json.dumps(PACKAGES, sort_keys=True).encode())
    for path in sorted(
        p for p in SIM_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ):
        h.update(str(path.relative_to(SIM_DIR)).encode())
        h.update(path.read_bytes())
    spank = (slurm_include or Path("/usr/include")) / "slurm/slurm_version.h"
    if spank.exists():  # the plugin is built against these headers
        h.update(spank.read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def gpg_key(gnupg_home: Path, name: str) -> str:
    """Generate the per-cluster signing key (once); return its fingerprint."""
    gnupg_home.mkdir(parents=True, exist_ok=True, mode=0o700)
    env_args = ["gpg", "--batch", "--homedir", str(gnupg_home)]
    listing = _run([*env_args, "--with-colons", "--list-secret-keys"], check=False)
    fprs = [line.split(":")[9] for line in listing.stdout.splitlines() if line.startswith("fpr")]
    if fprs:
        return fprs[0]
    _run(
        [
            *env_args,
            "--passphrase",
            "",
            "--quick-gen-key",
            f"trainbed mock archive ({name}) <trainbed-mock@localhost>",
            "ed25519",
            "sign",
            "never",
        ]
    )
    listing = _run([*env_args, "--with-colons", "--list-secret-keys"])
    return next(
        line.split(":")[9] for line in listing.stdout.splitlines() if line.startswith("fpr")
    )


def build_repo(
    repo: Path, gnupg_home: Path, cluster: str, slurm_include: Path | None = None
) -> dict[str, str]:
    """Build debs + Packages + signed Release into ``repo``; return a summary. Slurm plugins are
    built against the headers under ``slurm_include`` (default: the host's)."""
    repo, gnupg_home = repo.resolve(), gnupg_home.resolve()
    stamp = repo / ".content-hash"
    want = content_hash(slurm_include)
    fpr = gpg_key(gnupg_home, cluster)
    if stamp.exists() and stamp.read_text() == f"{want} {fpr}":
        return {"fingerprint": fpr, "rebuilt": "no"}
    # empty the directory but keep it: running nodes bind-mount this very inode
    repo.mkdir(parents=True, exist_ok=True)
    for old in repo.iterdir():
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    for name, spec in PACKAGES.items():
        build_package(name, spec, repo, slurm_include)
    packages = _run(["apt-ftparchive", "packages", "."], cwd=repo).stdout
    (repo / "Packages").write_text(packages)
    _run(["gzip", "-9k", "Packages"], cwd=repo)
    release = _run(
        [
            "apt-ftparchive",
            "-o",
            f"APT::FTPArchive::Release::Origin={ORIGIN}",
            "-o",
            f"APT::FTPArchive::Release::Label={ORIGIN}",
            "-o",
            f"APT::FTPArchive::Release::Description=trainbed mock simulated hardware ({cluster})",
            "release",
            ".",
        ],
        cwd=repo,
    ).stdout
    (repo / "Release").write_text(release)
    gpg = ["gpg", "--batch", "--homedir", str(gnupg_home), "--yes", "--local-user", fpr]
    _run([*gpg, "--clearsign", "-o", "InRelease", "Release"], cwd=repo)
    _run([*gpg, "--armor", "--detach-sign", "-o", "Release.gpg", "Release"], cwd=repo)
    asc = _run(["gpg", "--batch", "--homedir", str(gnupg_home), "--armor", "--export", fpr]).stdout
    (repo / "sim-archive-keyring.asc").write_text(asc)
    _run(
        [
            "gpg",
            "--batch",
            "--homedir",
            str(gnupg_home),
            "--yes",
            "--output",
            str(repo / "sim-archive-keyring.gpg"),
            "--export",
            fpr,
        ]
    )
    stamp.write_text(f"{want} {fpr}")
    return {"fingerprint": fpr, "rebuilt": "yes"}
