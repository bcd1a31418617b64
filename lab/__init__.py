"""The containerized mock cluster: bring-up, tear-down, simulated hardware and fault injection."""
