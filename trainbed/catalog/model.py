"""The resources of one host's catalog: frozen, typed, and serialisable to JSON without secrets."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from trainbed.health.plan import HealthPlan

#: Where the deploy installs each node's catalog (JSON, secrets redacted) for node-local tools.
CATALOG_PATH = "/etc/trainbed/catalog.json"
SCHEMA_VERSION = 1


@functools.lru_cache(maxsize=1024)
def _digest(content: str) -> str:
    # Cluster-wide files are one string shared by every host: hash it once, not once per host.
    return hashlib.sha256(content.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class File:
    """A file on the node. `content` is None where it is not the inventory's to give: a secret the
    deploy reads or makes (`create` is the shell command that makes it), or a local `source` file
    uploaded as is. A secret's content never leaves the deploy: the catalog JSON omits it.
    `build` names what the deploy builds the file from on the admin machine (`trainbed-health`:
    the health program, a zipapp of this package's modules, `trainbed.health.bundle`)."""

    path: str
    role: str
    content: str | None = None
    mode: str = "0644"
    owner: str = "root"
    group: str = "root"
    secret: bool = False
    source: str | None = None
    create: str | None = None
    build: str | None = None

    @property
    def sha256(self) -> str | None:
        """Digest of the content the node must hold, when the inventory gives it (never a secret's)."""
        if self.secret or self.content is None:
            return None
        return _digest(self.content)


@dataclass(frozen=True, slots=True)
class Link:
    """A symbolic link `path` → `target`."""

    path: str
    target: str
    role: str


@dataclass(frozen=True, slots=True)
class Package:
    """A Debian package: at exactly `version` and on hold when `held`; any version when `version`
    is None; removed when not `present`."""

    name: str
    role: str
    version: str | None = None
    held: bool = False
    present: bool = True

    @property
    def spec(self) -> str:
        return f"{self.name}={self.version}" if self.version else self.name


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    gid: int
    role: str


@dataclass(frozen=True, slots=True)
class User:
    """A system user with a fixed uid, in its own group; created before packages that would make it."""

    name: str
    uid: int
    group: str
    home: str
    shell: str
    role: str


@dataclass(frozen=True, slots=True)
class Directory:
    """A directory; `owner`/`group` None leaves the ownership as found (root's, when created)."""

    path: str
    role: str
    mode: str = "0755"
    owner: str | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class Unit:
    """A systemd unit. `enabled`/`running` None: installed only, its state not managed.

    A unit that is `proved` gets the deploy's post-condition after a start or restart: active within
    `start_timeout_s`, listening on `port` when given (`log_file` is shown on failure).
    `template` names the template unit an instance (`opensm@rail0`) comes from; `only_if_present`
    units are managed only where the unit file exists (a distribution unit switched off).
    `stage` places a Slurm daemon in the deploy's order across hosts: `key` (munge), `database`,
    `accounting`, `controller`, `worker`.
    """

    name: str
    role: str
    enabled: bool | None = True
    running: bool | None = True
    proved: bool = True
    port: int | None = None
    log_file: str | None = None
    start_timeout_s: int | None = None
    template: str | None = None
    only_if_present: bool = False
    stage: str | None = None

    @property
    def file_name(self) -> str:
        """The unit file's name: `opensm.service`, `trainbed-health.timer`."""
        return self.name if "." in self.name else f"{self.name}.service"


@dataclass(frozen=True, slots=True)
class Module:
    """A kernel module loaded at every boot by systemd-modules-load, listed in `config` (a File)."""

    name: str
    config: str
    role: str


Action = Literal["restart", "daemon-reload", "apt-update", "command"]


@dataclass(frozen=True, slots=True)
class Trigger:
    """When any of the files `on` changes in a run (and none of `unless`), `action` follows:
    restart `unit`, reload systemd's units, refresh apt's package lists, or run `command`."""

    name: str
    on: tuple[str, ...]
    action: Action
    role: str
    unit: str | None = None
    command: str | None = None
    unless: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every resource trainbed manages on one host, in the order the deploy applies them."""

    hostname: str
    kind: str
    roles: tuple[str, ...]
    files: tuple[File, ...] = ()
    links: tuple[Link, ...] = ()
    packages: tuple[Package, ...] = ()
    groups: tuple[Group, ...] = ()
    users: tuple[User, ...] = ()
    directories: tuple[Directory, ...] = ()
    units: tuple[Unit, ...] = ()
    modules: tuple[Module, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    #: What the node-local health program judges (compute nodes only).
    health: HealthPlan | None = None
    schema_version: int = field(default=SCHEMA_VERSION)

    def file(self, path: str) -> File:
        for f in self.files:
            if f.path == path:
                return f
        raise KeyError(f"{self.hostname}: no managed file {path}")

    def unit(self, name: str) -> Unit:
        for u in self.units:
            if u.name == name:
                return u
        raise KeyError(f"{self.hostname}: no managed unit {name}")

    def has_unit(self, name: str) -> bool:
        return any(u.name == name for u in self.units)

    def of(self, role: str) -> Catalog:
        """The resources one deploy role applies (the catalog's own fields, filtered)."""
        # Each value is the tuple of one resource kind; the keys are Catalog's own field names.
        picked: dict[str, Any] = {
            f.name: tuple(r for r in getattr(self, f.name) if r.role == role)
            for f in fields(self)
            if f.name in _RESOURCE_KINDS
        }
        return Catalog(self.hostname, self.kind, self.roles, **picked)

    def to_json(self) -> str:
        """The catalog as JSON for the node: file contents replaced by digests, secrets by a flag."""
        doc: dict[str, Any] = {
            "schema_version": self.schema_version,
            "hostname": self.hostname,
            "kind": self.kind,
            "roles": list(self.roles),
        }
        for kind in _RESOURCE_KINDS:
            doc[kind] = [_public(r) for r in getattr(self, kind)]
        if self.health is not None:
            doc["health"] = self.health.to_dict()
        return json.dumps(doc, indent=2, sort_keys=False) + "\n"


_RESOURCE_KINDS = (
    "files",
    "links",
    "packages",
    "groups",
    "users",
    "directories",
    "units",
    "modules",
    "triggers",
)


def _public(resource: Any) -> dict[str, Any]:
    # Resources are flat (scalars and tuples of strings): a shallow copy is what asdict would give.
    data = {f.name: getattr(resource, f.name) for f in fields(resource)}
    if isinstance(resource, File):
        # No content (a secret's stays with the deploy), no admin-machine paths, no commands.
        for key in ("content", "source", "create", "build"):
            del data[key]
        data["sha256"] = resource.sha256
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def node_files(catalog: Catalog) -> dict[str, str]:
    """Path on the node → content, for what `trainbed render` writes: every file whose content the
    inventory gives (slurmdbd.conf with its password placeholder), and the catalog's own JSON."""
    out = {f.path: f.content for f in catalog.files if f.content is not None}
    out[CATALOG_PATH] = catalog.to_json()
    return out
