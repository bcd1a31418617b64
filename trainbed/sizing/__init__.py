"""Sizing with the paper's arithmetic, generalised: memory per GPU, checkpoints, training time."""
