"""Facts trainbed needs beyond pyinfra's own."""

from __future__ import annotations

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
