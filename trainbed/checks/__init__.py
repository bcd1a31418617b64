"""Post-install acceptance checks: expected state from the inventory, the pytest run, its summary.

The checks themselves are pytest-testinfra modules in the repository's `checks/` directory;
this package holds what they and `trainbed check` share.
"""
