"""Commands for a remote shell, built the one way: arguments are quoted, never pasted in.

Like testinfra's ``host.run(cmd, *args)``: the command is a template whose ``%s`` take the
arguments, each quoted with `shlex.quote`, so a hostname, path or unit name from the inventory
cannot change what the shell runs. The checks' `trainbed.checks.remote.Remote` and the probes'
`trainbed.probes.remote.Remote` both build their commands with it.
"""

from __future__ import annotations

import shlex


def command(template: str, *args: object) -> str:
    """`template` with each ``%s`` replaced by the shell-quoted `str()` of the next argument
    (``%%`` is a literal ``%``); without arguments `template` itself, unformatted.

    >>> command("getent passwd %s", "a b")
    "getent passwd 'a b'"
    """
    if not args:
        return template
    return template % tuple(shlex.quote(str(a)) for a in args)
