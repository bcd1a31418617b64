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


class FileStates(FactBase[dict[str, tuple[str, str]]]):
    """Path → (`mode:user:group`, sha1 of the content) for each path that exists, in one command."""

    default = dict

    def command(self, paths: tuple[str, ...]) -> str:
        quoted = " ".join(shlex.quote(p) for p in paths)
        return (
            f'for f in {quoted}; do [ -f "$f" ] && '
            'printf \'%s\\t%s\\t%s\\n\' "$f" "$(stat -c \'%a:%U:%G\' "$f")" '
            '"$(sha1sum < "$f" | cut -d\' \' -f1)"; done; true'
        )

    def process(self, output: list[str]) -> dict[str, tuple[str, str]]:
        states = {}
        for line in output:
            parts = line.split("\t")
            if len(parts) == 3:
                states[parts[0]] = (parts[1], parts[2])
        return states
