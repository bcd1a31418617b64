"""Simulated hardware: the simulators (sim/), their packaging (packages.py, build.py)."""
