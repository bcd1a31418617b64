"""Is a systemd unit running, and does it start at boot? (`systemctl is-enabled`/`is-active`.)"""

from __future__ import annotations

from trainbed.verdicts import mismatch

#: `systemctl is-enabled` answers that mean the unit starts at boot (or cannot be enabled).
ENABLED_STATES = frozenset({"enabled", "enabled-runtime", "static", "indirect", "alias"})
#: What `state_text` prints when systemctl printed nothing (no such unit, no systemd).
NOT_FOUND, UNKNOWN = "not-found", "unknown"


def state_command(unit: str) -> tuple[str, tuple[str, ...]]:
    """A command template and its arguments (for `Remote.output`) printing ``ENABLED ACTIVE``."""
    return (
        'e=$(systemctl is-enabled %s 2>/dev/null); a=$(systemctl is-active %s 2>/dev/null); echo "${e:-'
        + NOT_FOUND
        + "} ${a:-"
        + UNKNOWN
        + '}"',
        (unit, unit),
    )


def parse_state(text: str) -> tuple[str, str]:
    """``ENABLED ACTIVE`` (what `state_command` prints) → (enabled, active)."""
    enabled, _, active = text.strip().partition(" ")
    return enabled or NOT_FOUND, active.strip() or UNKNOWN


def problem(node: str, unit: str, active: str, enabled: str | None = None) -> str | None:
    """None when the unit is active (and, when `enabled` is given, starts at boot).

    `gpu01 chrony: expected enabled and active, got disabled and active`; with only the active
    state known, `gpu01 nvidia-fabricmanager: expected active, got inactive`.
    """
    active = active.strip() or UNKNOWN
    if enabled is None:
        return None if active == "active" else mismatch(f"{node} {unit}", "active", active)
    if enabled in ENABLED_STATES and active == "active":
        return None
    return mismatch(f"{node} {unit}", "enabled and active", f"{enabled} and {active}")
