"""Options shared by several commands, with the Go tool's flags and environment variables."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from recorder.errors import InvalidInputError
from recorder.storage.api import Recording
from recorder.storage.writer import DEFAULT_MAX_OPS

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_DB = "recordings.db"
MAX_LIMIT_LINES = 1000


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


MAX_OPS_ENV = "REPLAY_MAX_OPS"


def resolve_max_ops(option: int | None) -> int:
    """``--max-ops``, else ``$REPLAY_MAX_OPS`` (the Go tool's variable), else 1,000,000."""
    if option is not None:
        value, origin = str(option), "--max-ops"
    else:
        value, origin = os.environ.get(MAX_OPS_ENV, str(DEFAULT_MAX_OPS)), MAX_OPS_ENV
    try:
        limit = int(value.strip())
    except ValueError:
        limit = 0
    if limit <= 0:
        raise InvalidInputError(f"{origin} must be a positive integer, not {value!r}")
    return limit


def max_ops_option(func: F) -> F:
    option = click.option(
        "--max-ops",
        type=int,
        default=None,
        help=f"Per-session operation limit (default ${MAX_OPS_ENV} or {DEFAULT_MAX_OPS:,}).",
    )
    return option(func)


def print_limits(recording: Recording) -> None:
    """Every bound the reader hit (the operation limit), one line each on stderr."""
    print_limit_events(recording.limit_events)


def print_limit_events(events: Iterable[str]) -> None:
    for event in list(events)[:MAX_LIMIT_LINES]:
        click.echo(f"kreplay: limit: {event}", err=True)
