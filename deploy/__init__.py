"""pyinfra deploy for trainbed clusters: `pyinfra inventory/<site>.py deploy/cluster.py`."""
