"""Bandwidth probes: which NCCL and ib_write_bw runs to make, and in what order."""
