"""Options shared by several commands, with the Go tool's flags and environment variables."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_DB = "recordings.db"


def default_db_path() -> str:
    """``-d`` else ``REPLAY_DB_PATH`` else ``recordings.db``, as the Go tool did."""
    return os.environ.get("REPLAY_DB_PATH") or DEFAULT_DB


def database_option(func: F) -> F:
    option = click.option(
        "-d",
        "--database",
        "--db",
        "database",
        default=default_db_path,
        show_default="$REPLAY_DB_PATH or recordings.db",
        help="Recording database (SQLite).",
    )
    return option(func)


def format_option(*choices: str) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        option = click.option(
            "--format",
            "output_format",
            type=click.Choice(list(choices)),
            default=choices[0],
            show_default=True,
            help="Output format.",
        )
        return option(func)

    return decorate
