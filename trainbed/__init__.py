"""trainbed: provision and validate GPU training clusters built to the Dell/NVIDIA reference design."""

__version__ = "0.1.0"
