"""enroot 3.4.1 (simulated): import, create, start, list, remove "containers" as directories.

Stdlib only; runs on the nodes. Configuration as the real enroot reads it: /etc/enroot/enroot.conf
(``$ENROOT_CONFIG_PATH``/enroot.conf), ``KEY VALUE`` lines whose values the shell expands for the
calling user (``$(id -u)``, ``${HOME}``), environment variables taking precedence.

The registry is simulated: ``docker://[USER@][REGISTRY#]IMAGE[:TAG]`` resolves to an image tree
shipped under /usr/lib/trainbed-sim/enroot/registry/<registry>/<image>/<tag>/ (``$TRAINBED_SIM_
REGISTRY``); anything else fails the way a registry 404 does. An "image" file (``.sqsh``) is a tar
of that tree; ``create`` unpacks it into ``$ENROOT_DATA_PATH/NAME``. ``start`` runs a command with
``ENROOT_ROOTFS`` set to the container's directory, in a private mount namespace where the image's
/opt and /usr/local are bind-mounted (as root; pyxis does the same for Slurm tasks).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

VERSION = "3.4.1"
DEFAULTS = {
    "ENROOT_LIBRARY_PATH": "/usr/lib/enroot",
    "ENROOT_SYSCONF_PATH": "/etc/enroot",
    "ENROOT_RUNTIME_PATH": "${XDG_RUNTIME_DIR}/enroot",
    "ENROOT_CONFIG_PATH": "${XDG_CONFIG_HOME}/enroot",
    "ENROOT_CACHE_PATH": "${XDG_CACHE_HOME}/enroot",
    "ENROOT_DATA_PATH": "${XDG_DATA_HOME}/enroot",
    "ENROOT_TEMP_PATH": "${TMPDIR:-/tmp}",
}
OVERLAY = ("opt", "usr/local")
DEFAULT_REGISTRY = "registry-1.docker.io"


def registry_dir() -> Path:
    here = Path(__file__).resolve().parent
    return Path(os.environ.get("TRAINBED_SIM_REGISTRY", here / "registry"))


def _expand(value: str, env: dict[str, str]) -> str:
    """Expand a configuration value like enroot does: through the shell, as the caller."""
    proc = subprocess.run(
        ["/bin/sh", "-c", f'printf %s "{value}"'], capture_output=True, text=True, env=env
    )
    return proc.stdout


def config() -> dict[str, str]:
    """ENROOT_* settings: defaults < enroot.conf < environment."""
    env = dict(os.environ)
    home = env.get("HOME", "/root")
    env.setdefault("XDG_RUNTIME_DIR", f"/run/user/{os.getuid()}")
    env.setdefault("XDG_CONFIG_HOME", f"{home}/.config")
    env.setdefault("XDG_CACHE_HOME", f"{home}/.cache")
    env.setdefault("XDG_DATA_HOME", f"{home}/.local/share")
    settings = dict(DEFAULTS)
    conf = Path(os.environ.get("ENROOT_SYSCONF_PATH", "/etc/enroot")) / "enroot.conf"
    try:
        for line in conf.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition(" ")
            settings[key] = value.strip()
    except OSError:
        pass
    out = {}
    for key, value in settings.items():
        out[key] = os.environ.get(key) or _expand(value, env)
    return out


def err(message: str) -> int:
    print(f"[ERROR] {message}", file=sys.stderr)
    return 1


def info(message: str) -> None:
    print(f"[INFO] {message}", file=sys.stderr)


def parse_uri(uri: str) -> tuple[str, str, str] | None:
    """docker://[USER@][REGISTRY#]IMAGE[:TAG] -> (registry, image, tag)."""
    if not uri.startswith("docker://"):
        return None
    ref = uri[len("docker://") :]
    ref = ref.split("@", 1)[1] if "@" in ref.split("#", 1)[0] else ref
    registry, _, image = ref.rpartition("#")
    registry = registry or DEFAULT_REGISTRY
    image, _, tag = image.partition(":")
    if "/" not in image and registry == DEFAULT_REGISTRY:
        image = f"library/{image}"
    return registry, image, tag or "latest"


def cmd_import(args: list[str], cfg: dict[str, str]) -> int:
    output = None
    rest = []
    i = 0
    while i < len(args):
        if args[i] in ("-o", "--output"):
            output = args[i + 1]
            i += 2
            continue
        rest.append(args[i])
        i += 1
    if len(rest) != 1:
        return err("Usage: enroot import [options] [--] URI")
    parsed = parse_uri(rest[0])
    if parsed is None:
        return err(f"Invalid argument: {rest[0]}")
    registry, image, tag = parsed
    info("Querying registry for permission grant")
    info("Authenticating with user: <anonymous>")
    info("Authentication succeeded")
    info("Fetching image manifest list")
    tree = registry_dir() / registry / image / tag
    if not (tree / "rootfs").is_dir():
        return err(
            f"URL https://{registry}/v2/{image}/manifests/{tag} returned error code: 404 Not Found"
        )
    info("Fetching image manifest")
    layers = json.loads((tree / "manifest.json").read_text()).get("layers", 1)
    cache = Path(cfg["ENROOT_CACHE_PATH"])
    cache.mkdir(parents=True, exist_ok=True)
    digest = (cache / f"{registry}+{image.replace('/', '+')}+{tag}.layers").resolve()
    if digest.exists():
        info(f"Found all layers in cache ({layers} layers)")
    else:
        info(f"Downloading {layers} missing layers...")
        digest.write_text(f"{layers}\n")
    info("Extracting image layers...")
    info("Converting whiteouts...")
    info("Creating squashfs filesystem...")
    target = Path(output or f"{image.replace('/', '+')}+{tag}.sqsh")
    if target.exists():
        return err(f"File already exists: {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(cfg["ENROOT_TEMP_PATH"])
    tmp.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w") as tar:
        tar.add(tree / "rootfs", arcname=".")
        tar.add(tree / "manifest.json", arcname="./.enroot/manifest.json")
    print(f"Parallel mksquashfs: Using 2 processors\nCreating 4.0 filesystem on {target}")
    return 0


def cmd_create(args: list[str], cfg: dict[str, str]) -> int:
    name, force, rest = None, False, []
    i = 0
    while i < len(args):
        if args[i] in ("-n", "--name"):
            name = args[i + 1]
            i += 2
            continue
        if args[i] in ("-f", "--force"):
            force = True
        else:
            rest.append(args[i])
        i += 1
    if len(rest) != 1:
        return err("Usage: enroot create [options] [--] IMAGE")
    image = Path(rest[0])
    if not image.is_file():
        return err(f"No such file or directory: {image}")
    name = name or image.name.rsplit(".", 1)[0]
    target = Path(cfg["ENROOT_DATA_PATH"]) / name
    if target.exists():
        if not force:
            return err(f"File already exists: {target}")
        shutil.rmtree(target)
    info("Extracting squashfs filesystem...")
    target.mkdir(parents=True)
    with tarfile.open(image) as tar:
        # the "tar" filter where this Python has it (3.11.4+): keep modes, refuse absolute paths
        if hasattr(tarfile, "tar_filter"):
            tar.extractall(target, filter="tar")
        else:
            tar.extractall(target)
    return 0


def _container(name: str, cfg: dict[str, str]) -> Path | None:
    path = Path(cfg["ENROOT_DATA_PATH"]) / name
    return path if path.is_dir() else None


def cmd_start(args: list[str], cfg: dict[str, str]) -> int:
    env = dict(os.environ)
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] in ("-e", "--env"):
            key, _, value = args[i + 1].partition("=")
            env[key] = value
            i += 2
        elif args[i] in ("-m", "--mount", "-c", "--conf"):
            i += 2
        else:
            i += 1
    if i >= len(args):
        return err("Usage: enroot start [options] [--] NAME|IMAGE [COMMAND] [ARG...]")
    rootfs = _container(args[i], cfg)
    if rootfs is None:
        return err(f"No such file or directory: {Path(cfg['ENROOT_DATA_PATH']) / args[i]}")
    command = args[i + 1 :] or ["/bin/sh"]
    env["ENROOT_ROOTFS"] = str(rootfs)
    binds = [f"{rootfs}/{d}" for d in OVERLAY if (rootfs / d).is_dir()]
    if os.getuid() == 0 and shutil.which("unshare") and binds:
        script = "".join(
            f'mount --bind "{src}" "/{d}" && ' for src, d in zip(binds, OVERLAY, strict=False)
        )
        command = [
            "unshare",
            "--mount",
            "--propagation",
            "slave",
            "/bin/sh",
            "-c",
            f'{script}exec "$@"',
            "enroot-start",
            *command,
        ]
    os.execvpe(command[0], command, env)
    return 127


def cmd_list(args: list[str], cfg: dict[str, str]) -> int:
    data = Path(cfg["ENROOT_DATA_PATH"])
    if data.is_dir():
        for path in sorted(data.iterdir()):
            if path.is_dir():
                print(path.name)
    return 0


def cmd_remove(args: list[str], cfg: dict[str, str]) -> int:
    names = [a for a in args if not a.startswith("-")]
    rc = 0
    for name in names:
        path = _container(name, cfg)
        if path is None:
            rc = err(f"No such file or directory: {Path(cfg['ENROOT_DATA_PATH']) / name}")
            continue
        shutil.rmtree(path)
    return rc


USAGE = """Usage: enroot COMMAND [ARG...]

Command line utility for manipulating container sandboxes.

 Commands:
   batch  [options] [--] CONFIG [COMMAND] [ARG...]
   bundle [options] [--] IMAGE
   create [options] [--] IMAGE
   exec   [options] [--] PID COMMAND [ARG...]
   export [options] [--] NAME
   import [options] [--] URI
   list   [options]
   remove [options] [--] NAME...
   start  [options] [--] NAME|IMAGE [COMMAND] [ARG...]
   version
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if args else 1
    if args[0] in ("version", "--version", "-v"):
        print(VERSION)
        return 0
    commands = {
        "import": cmd_import,
        "create": cmd_create,
        "start": cmd_start,
        "list": cmd_list,
        "remove": cmd_remove,
    }
    if args[0] not in commands:
        return err(f"Unknown command: {args[0]}")
    return commands[args[0]](args[1:], config())


if __name__ == "__main__":
    sys.exit(main())
