"""The lab's own tests: the simulators, the bring-up plan, the lab's inventories."""
