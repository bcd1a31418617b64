"""Facts trainbed needs beyond pyinfra's own."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


class OsRelease(FactBase[str]):
    """`ID-VERSION_ID` from /etc/os-release, the form the inventory's `os_release` uses."""

    def command(self) -> str:
        return '. /etc/os-release && echo "$ID-$VERSION_ID"'

    def process(self, output: list[str]) -> str:
        return output[0].strip() if output else ""


class HeldPackages(FactBase[set[str]]):
    """Packages on apt hold."""

    default = set

    def command(self) -> str:
        return "apt-mark showhold"

    def process(self, output: list[str]) -> set[str]:
        return {line.strip() for line in output if line.strip()}


class SystemdUnitFiles(FactBase[set[str]]):
    """Names of the unit files systemd knows, loaded or not."""

    default = set

    def command(self) -> str:
        return "systemctl list-unit-files --no-legend --no-pager --plain | cut -d' ' -f1"

    def process(self, output: list[str]) -> set[str]:
        return {line.strip() for line in output if line.strip()}


#: Fields after the kind in each line FileStates reads.
_FIELDS = {"file": 3, "directory": 2, "link": 1, "other": 1}


class FileStates(FactBase[dict[str, tuple[str, ...]]]):
    """What each path is, in one command: ``("file", "mode:user:group", sha1)`` for a regular file,
    ``("directory", "mode:user:group")``, ``("link",)`` or ``("other",)``; a path that does not
    exist is absent (mode in octal digits, as ``stat -c %a`` prints it).

    A link is a link whatever it points to (not followed), as pyinfra's ``File`` and ``Directory``
    facts see it.
    """

    default = dict

    def command(self, paths: tuple[str, ...]) -> str:
        quoted = " ".join(shlex.quote(p) for p in paths)
        return (
            f'for f in {quoted}; do if [ -L "$f" ]; then printf \'link\\t%s\\n\' "$f"; '
            'elif [ -f "$f" ]; then printf \'file\\t%s\\t%s\\t%s\\n\' "$f" '
            '"$(stat -c \'%a:%U:%G\' "$f")" "$(sha1sum < "$f" | cut -d\' \' -f1)"; '
            'elif [ -d "$f" ]; then printf \'directory\\t%s\\t%s\\n\' "$f" '
            '"$(stat -c \'%a:%U:%G\' "$f")"; '
            'elif [ -e "$f" ]; then printf \'other\\t%s\\n\' "$f"; fi; done; true'
        )

    def process(self, output: list[str]) -> dict[str, tuple[str, ...]]:
        states: dict[str, tuple[str, ...]] = {}
        for line in output:
            kind, _, rest = line.partition("\t")
            parts = rest.split("\t")
            if len(parts) == _FIELDS.get(kind) and parts[0]:
                states[parts[0]] = (kind, *parts[1:])
        return states
