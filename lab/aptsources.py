"""Read the host's own apt sources: the Debian mirror for debootstrap, and the files to copy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Source:
    """One apt source stanza (deb822) or line (one-line format)."""

    types: tuple[str, ...]
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


def parse_deb822(text: str) -> list[Source]:
    """Parse a deb822 ``.sources`` file; disabled stanzas (``Enabled: no``) are dropped."""
    sources: list[Source] = []
    for stanza in _stanzas(text):
        if stanza.get("enabled", "yes").lower() == "no":
            continue
        if "uris" not in stanza or "suites" not in stanza:
            continue
        sources.append(
            Source(
                types=tuple(stanza.get("types", "deb").split()),
                uris=tuple(stanza["uris"].split()),
                suites=tuple(stanza["suites"].split()),
                components=tuple(stanza.get("components", "").split()),
                options={
                    k: v
                    for k, v in stanza.items()
                    if k not in ("types", "uris", "suites", "components")
                },
            )
        )
    return sources


def _stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, ""
            continue
        if line[0] in " \t" and key:
            current[key] += "\n" + line.strip()
            continue
        if ":" in line:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            current[key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def parse_one_line(text: str) -> list[Source]:
    """Parse the one-line format (``deb [opts] URI SUITE COMPONENT...``)."""
    sources: list[Source] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        kind, rest = words[0], words[1:]
        if kind not in ("deb", "deb-src"):
            continue
        options: dict[str, str] = {}
        if rest and rest[0].startswith("["):
            opts: list[str] = []
            while rest:
                word = rest.pop(0)
                opts.append(word)
                if word.endswith("]"):
                    break
            for opt in " ".join(opts).strip("[]").split():
                name, _, value = opt.partition("=")
                options[name] = value
        if len(rest) < 2:
            continue
        sources.append(Source((kind,), (rest[0],), (rest[1],), tuple(rest[2:]), options))
    return sources


def debian_mirror(sources: list[Source], suite: str) -> str:
    """The URI of the first binary source that serves ``suite`` itself (not -updates/-security)."""
    for source in sources:
        if "deb" in source.types and suite in source.suites:
            return source.uris[0]
    raise LookupError(f"no apt source serves suite {suite!r}; checked {len(sources)} source(s)")


def _retarget_suite(suite: str, old: str, new: str) -> str:
    return new + suite[len(old) :] if suite == old or suite.startswith(old + "-") else suite


def retarget(name: str, text: str, old: str, new: str) -> str:
    """The source file ``name`` with every suite ``old``/``old-*`` renamed to ``new``/``new-*``.

    Only suite fields change (deb822 ``Suites:``, the one-line format's third field): another
    release from the same mirrors, with its -updates and -security.
    """
    lines = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        end = line[len(body) :]
        if name.endswith(".sources") and body.lower().startswith("suites:"):
            key, _, value = body.partition(":")
            body = f"{key}: " + " ".join(_retarget_suite(s, old, new) for s in value.split())
        elif not name.endswith(".sources") and body.split()[:1] in (["deb"], ["deb-src"]):
            words = body.split()
            at = 1
            if at < len(words) and words[at].startswith("["):
                while at < len(words) and not words[at].endswith("]"):
                    at += 1
                at += 1
            if at + 1 < len(words):
                words[at + 1] = _retarget_suite(words[at + 1], old, new)
            body = " ".join(words)
        lines.append(body + end)
    return "".join(lines)


def host_source_files(root: Path = Path("/")) -> dict[str, str]:
    """The host's apt source files, relative path -> text (sources.list and sources.list.d/)."""
    files: dict[str, str] = {}
    main = root / "etc/apt/sources.list"
    if main.is_file():
        files["etc/apt/sources.list"] = main.read_text()
    directory = root / "etc/apt/sources.list.d"
    if directory.is_dir():
        for path in sorted(directory.iterdir()):
            if path.suffix in (".sources", ".list") and path.is_file():
                files[f"etc/apt/sources.list.d/{path.name}"] = path.read_text()
    return files


def host_acquire_conf(root: Path = Path("/")) -> dict[str, str]:
    """apt.conf.d snippets that only set ``Acquire::`` options (how the host reaches its mirror)."""
    files: dict[str, str] = {}
    directory = root / "etc/apt/apt.conf.d"
    if not directory.is_dir():
        return files
    for path in sorted(directory.iterdir()):
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        statements = [
            line.strip()
            for line in text.splitlines()
            if line.strip() and not line.strip().startswith(("//", "#"))
        ]
        if statements and all(s.startswith("Acquire::") for s in statements):
            files[f"etc/apt/apt.conf.d/{path.name}"] = text
    return files


def host_sources(root: Path = Path("/")) -> list[Source]:
    """Every enabled source configured on the host."""
    sources: list[Source] = []
    for name, text in host_source_files(root).items():
        sources += parse_deb822(text) if name.endswith(".sources") else parse_one_line(text)
    return sources
