"""One-line verdicts: every failed check says what it expected and what it found."""

from __future__ import annotations

from collections.abc import Iterable

from trainbed.checks.remote import Remote

#: `systemctl is-enabled` answers that mean the unit starts at boot (or cannot be enabled).
ENABLED_STATES = frozenset({"enabled", "enabled-runtime", "static", "indirect", "alias"})


def mismatch(what: str, expected: object, actual: object) -> str:
    return f"{what}: expected {expected}, got {actual}"


def check(problems: Iterable[str | None]) -> None:
    """Fail with every problem on one line (`; `-joined), or pass when there is none (a None or
    empty item is no problem)."""
    found = [p for p in problems if p]
    if found:
        raise AssertionError("; ".join(found))


def service_state(remote: Remote, unit: str) -> tuple[str, str]:
    """(`is-enabled`, `is-active`) answers for a unit, read in one command, never cached."""
    out = remote.output(
        f"e=$(systemctl is-enabled {unit} 2>/dev/null); a=$(systemctl is-active {unit} 2>/dev/null);"
        ' echo "${e:-not-found} ${a:-unknown}"',
        cache=False,
    )
    enabled, _, active = out.strip().partition(" ")
    return enabled, active


def service_problem(hostname: str, unit: str, enabled: str, active: str) -> str | None:
    if enabled in ENABLED_STATES and active == "active":
        return None
    return mismatch(f"{hostname} {unit}", "enabled and active", f"{enabled} and {active}")
