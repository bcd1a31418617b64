"""Errors that reach the user as one clear message, never as a traceback."""


class TrainbedError(Exception):
    """A user-facing failure: the CLI prints the message and exits non-zero."""
