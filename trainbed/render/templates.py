"""The Jinja environment for trainbed's templates (StrictUndefined: a missing value is a bug)."""

from __future__ import annotations

import shlex
from functools import cache
from typing import Any

import jinja2


def shell_word(value: object) -> str:
    """`value` as one shell word; a word starting with `=` is quoted too (`X==a` reads as a
    typo to shellcheck, SC1097, and to people)."""
    word = shlex.quote(str(value))
    return f"'{word}'" if word.startswith("=") else word


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("trainbed", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # configuration files, not HTML
    )
    env.filters["shquote"] = shell_word  # shell scripts
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
