"""Parsers for the text output of hardware, fabric and Slurm commands (pure functions)."""
