"""Post-install acceptance checks: expected state from the inventory, the pytest run, its summary.

The checks themselves are the pytest-testinfra modules ``test_*.py`` here, with their
``conftest.py`` (hosts, fixtures) and ``plugin.py`` (options, a ``pytest11`` entry point); the
other modules hold what they and `trainbed check` share.
"""
