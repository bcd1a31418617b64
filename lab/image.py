"""Node images: a debootstrap minbase tree imported into Docker, then two thin layers.

Images are cached by a content hash (label ``trainbed.mock.hash``): a warm bring-up finds them and
skips building. Nothing here names a mirror: it is read from the host's own apt sources.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lab import aptsources
from lab.config import IMAGE_LABEL, LABEL_HASH, RELEASES, SUITE
from lab.engine import MockError, docker, run
from lab.log import log

#: Installed in the base tree by debootstrap (what every node needs to boot and be reached).
BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "sudo",
    "iproute2",
    "netbase",
    "procps",
    "ca-certificates",
    "gpg",
    "iputils-ping",
    "less",
    "kmod",
)

#: Downloaded into /var/cache/apt/archives but NOT installed: the deploy installs and configures
#: them (installing here would create the munge/slurm users with arbitrary ids before the deploy
#: can fix them). Caching only saves the download.
CACHED_PACKAGES = (
    "chrony",
    "munge",
    "slurm-wlm",
    "slurmd",
    "slurmctld",
    "slurm-client",
    "slurmdbd",
    "mariadb-server",
    "nfs-common",
    "libnfs-utils",
    "rdma-core",
    "ibverbs-providers",
)

#: Installed in the storage image only (the PowerScale stand-in).
STORAGE_PACKAGES = ("nfs-ganesha", "nfs-ganesha-vfs", "rpcbind", "nfs-common")

#: Units that cannot work in an unprivileged container (no udev, no sunrpc fs). Units that skip
#: themselves there by a Condition (systemd-modules-load: CAP_SYS_MODULE) stay as on a real host.
MASKED_UNITS = (
    "systemd-udevd.service",
    "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service",
    "systemd-udev-settle.service",
    "sys-kernel-config.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "sys-fs-fuse-connections.mount",
    "systemd-remount-fs.service",
    "getty.target",
    "console-getty.service",
    "systemd-firstboot.service",
    "proc-sys-fs-binfmt_misc.automount",
    "systemd-binfmt.service",
    "run-rpc_pipefs.mount",
    "rpc_pipefs.target",
    "rpc-gssd.service",
    "rpc-svcgssd.service",
    "systemd-hwdb-update.service",
    "ldconfig.service",
)

SSHD_CONF = """\
# trainbed mock node: host key injected per node at bring-up, root login by key only
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
"""

NODE_DOCKERFILE = """\
FROM {base}
ENV container=docker
COPY sshd.conf /etc/ssh/sshd_config.d/10-trainbed-mock.conf
RUN set -e; \\
    rm -f /etc/ssh/ssh_host_*; \\
    for u in {masked}; do ln -sf /dev/null /etc/systemd/system/$u; done; \\
    : > /etc/machine-id; \\
    mkdir -p /root/.ssh && chmod 700 /root/.ssh; \\
    export DEBIAN_FRONTEND=noninteractive; apt-get update -q; \\
    apt-get install -y -q --download-only {cached}; \\
    ls /var/cache/apt/archives/*.deb | wc -l
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
"""

STORAGE_DOCKERFILE = """\
FROM {node}
RUN set -e; export DEBIAN_FRONTEND=noninteractive; \\
    apt-get install -y -q --no-install-recommends {packages}; \\
    rm -f /var/cache/apt/archives/*.deb; \\
    systemctl disable nfs-ganesha.service || true
"""


@dataclass(frozen=True)
class Images:
    """Tags of the three images of one content hash."""

    base: str
    node: str
    storage: str


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def plan(root: Path = Path("/"), suite: str = SUITE) -> tuple[Images, dict[str, str], str]:
    """Image tags for the host's apt configuration, the files to copy in, and the mirror.

    The host's sources serve SUITE; another ``suite`` (RELEASES) comes from the same mirrors,
    its sources those of the host with the suite names changed.
    """
    if suite not in RELEASES:
        raise MockError(f"unknown Debian release {suite!r} (known: {', '.join(RELEASES)})")
    sources = aptsources.host_source_files(root)
    if suite != SUITE:
        sources = {n: aptsources.retarget(n, t, SUITE, suite) for n, t in sources.items()}
    files = {**sources, **aptsources.host_acquire_conf(root)}
    mirror = aptsources.debian_mirror(aptsources.host_sources(root), SUITE)
    base_hash = _digest("base", 1, suite, mirror, BASE_PACKAGES, files)
    node_hash = _digest(
        "node", 1, base_hash, CACHED_PACKAGES, MASKED_UNITS, SSHD_CONF, NODE_DOCKERFILE
    )
    storage_hash = _digest("storage", 1, node_hash, STORAGE_PACKAGES, STORAGE_DOCKERFILE)
    images = Images(
        base=f"trainbed-mock-base:{base_hash}",
        node=f"trainbed-mock-node:{node_hash}",
        storage=f"trainbed-mock-storage:{storage_hash}",
    )
    return images, files, mirror


def parse_policy(text: str) -> dict[str, str]:
    """``apt-cache policy NAME...`` output -> name: candidate version (names without one left out)."""
    out: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            name = line[:-1]
        elif name and line.strip().startswith("Candidate:"):
            version = line.split(":", 1)[1].strip()
            if version != "(none)":
                out[name] = version
    return out


def candidates(tag: str, packages: list[str]) -> dict[str, str]:
    """The version apt in image ``tag`` would install of each package (its lists are kept)."""
    return parse_policy(
        docker("run", "--rm", "--network", "none", tag, "apt-cache", "policy", *packages)
    )


def slurm_headers(tag: str, dest: Path) -> Path:
    """The Slurm headers of image ``tag``'s release (its libslurm-dev, unpacked, not installed)
    under ``dest``/usr/include; returns that include directory (kept: ``dest`` names the image)."""
    include = dest / "usr/include"
    if (include / "slurm/spank.h").exists():
        return include
    dest.mkdir(parents=True, exist_ok=True)
    script = (
        "set -e; cd /tmp; apt-get download -q libslurm-dev >/dev/null; "
        "dpkg-deb --fsys-tarfile libslurm-dev_*.deb"
    )
    got = subprocess.run(
        ["docker", "run", "--rm", tag, "sh", "-c", script], capture_output=True, timeout=300
    )
    if got.returncode != 0:
        raise MockError(f"libslurm-dev from {tag}: {got.stderr.decode(errors='replace')[-500:]}")
    subprocess.run(
        ["tar", "-x", "-C", str(dest), "./usr/include/slurm"],
        input=got.stdout,
        check=True,
        timeout=120,
    )
    return include


def exists(tag: str) -> bool:
    """True when the image tag is present locally."""
    return bool(docker("images", "-q", tag))


def ensure(
    log_dir: Path, root: Path = Path("/"), suite: str = SUITE, storage: bool = True
) -> Images:
    """Build whichever of the images is missing (the storage one only if ``storage``); tags."""
    images, files, mirror = plan(root, suite)
    if not exists(images.base):
        build_base(images.base, mirror, files, log_dir, suite)
    if not exists(images.node):
        build_layer(
            images.node,
            NODE_DOCKERFILE.format(
                base=images.base,
                masked=" ".join(MASKED_UNITS),
                cached=" ".join(CACHED_PACKAGES),
            ),
            {"sshd.conf": SSHD_CONF},
            log_dir / "build-node.log",
        )
    if storage and not exists(images.storage):
        build_layer(
            images.storage,
            STORAGE_DOCKERFILE.format(
                node=images.node,
                packages=" ".join(STORAGE_PACKAGES),
            ),
            {},
            log_dir / "build-storage.log",
        )
    return images


def _labels(tag: str) -> list[str]:
    return [f"LABEL {IMAGE_LABEL}=1", f"LABEL {LABEL_HASH}={tag.rsplit(':', 1)[1]}"]


def build_base(
    tag: str, mirror: str, files: dict[str, str], log_dir: Path, suite: str = SUITE
) -> None:
    """debootstrap --variant=minbase ``suite`` into a temp dir, copy apt sources in, import."""
    log(f"building {tag}: debootstrap {suite} from the host's mirror")
    log_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="trainbed-mock-rootfs-", dir="/var/tmp"))
    try:
        with open(log_dir / f"debootstrap-{suite}.log", "w") as out:
            proc = subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(BASE_PACKAGES)}",
                    suite,
                    str(work),
                    mirror,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=900,
            )
        if proc.returncode != 0:
            raise MockError(
                f"debootstrap failed ({proc.returncode}); see {log_dir}/debootstrap-{suite}.log"
            )
        install_apt_files(work, files)
        for stale in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (work / stale).glob("*"):
                if path.is_file():
                    path.unlink()
        changes: list[str] = []
        for label in _labels(tag):
            changes += ["--change", label]
        tar = subprocess.Popen(
            ["tar", "-C", str(work), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE
        )
        imp = subprocess.run(
            ["docker", "import", *changes, "-", tag],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            timeout=600,
        )
        tar.wait(timeout=600)
        if imp.returncode != 0 or tar.returncode != 0:
            raise MockError(f"docker import of {tag} failed: {imp.stderr.strip()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def install_apt_files(tree: Path, files: dict[str, str]) -> None:
    """Replace the tree's apt sources with the host's (so nodes get -updates and -security)."""
    (tree / "etc/apt/sources.list").unlink(missing_ok=True)
    for rel, text in files.items():
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def build_layer(tag: str, dockerfile: str, context_files: dict[str, str], logfile: Path) -> None:
    """docker build (legacy builder) from a generated Dockerfile; output to ``logfile``."""
    log(f"building {tag}")
    with tempfile.TemporaryDirectory(prefix="trainbed-mock-ctx-") as ctx:
        root = Path(ctx)
        (root / "Dockerfile").write_text(dockerfile + "\n".join(_labels(tag)) + "\n")
        for name, text in context_files.items():
            (root / name).write_text(text)
        proc = run(
            ["docker", "build", "-t", tag, str(root)],
            check=False,
            timeout=1200,
            env={"DOCKER_BUILDKIT": "0"},
        )
        logfile.parent.mkdir(parents=True, exist_ok=True)
        logfile.write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise MockError(f"docker build of {tag} failed; see {logfile}")
