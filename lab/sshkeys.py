"""Per-cluster SSH material: the admin key, per-node host keys, known_hosts and ssh_config."""

from __future__ import annotations

from pathlib import Path

from lab.engine import run
from lab.inventory import Node


def keygen(path: Path, comment: str) -> Path:
    """Create an ed25519 key pair at ``path`` (no passphrase) unless it exists."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    path.chmod(0o600)
    return path


def host_key_dir(state: Path, hostname: str) -> Path:
    """Where a node's host key pair lives on the admin side."""
    return state / "ssh" / "hostkeys" / hostname


def known_hosts_line(node: Node, public_key: str) -> str:
    """``name,address ssh-ed25519 AAAA...`` (the key's comment dropped)."""
    kind, blob = public_key.split()[:2]
    names = ",".join([node.hostname, node.address, *node.aliases])
    return f"{names} {kind} {blob}"


def known_hosts(nodes: list[Node], public_keys: dict[str, str]) -> str:
    """known_hosts text for every node."""
    return "".join(known_hosts_line(n, public_keys[n.hostname]) + "\n" for n in nodes)


def ssh_config(nodes: list[Node], identity: Path, known_hosts_file: Path) -> str:
    """An ssh_config with one Host block per node, strict host key checking."""
    blocks = []
    for n in nodes:
        blocks.append(
            f"Host {n.hostname} {n.address}\n"
            f"    HostName {n.address}\n"
            "    User root\n"
            f"    IdentityFile {identity}\n"
            "    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {known_hosts_file}\n"
            "    GlobalKnownHostsFile /dev/null\n"
            "    StrictHostKeyChecking yes\n"
            "    HostKeyAlgorithms ssh-ed25519\n"
            "    BatchMode yes\n"
            "    ConnectTimeout 5\n"
            "    LogLevel ERROR\n"
        )
    return "\n".join(blocks)
