"""``kreplay sessions``: list the sessions of a recording."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from kreplay_dap.cli.options import database_option, format_option
from recorder.errors import InvalidInputError
from recorder.storage import SessionInfo, open_recording
from recorder.storage.writer import DEFAULT_MAX_OPS

F = TypeVar("F", bound=Callable[..., Any])
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


def _time(ns: int | None) -> str:
    if not ns:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _top(counts: dict[str, int], limit: int = 3) -> str:
    ranked = sorted(counts.items(), key=lambda item: -item[1])[:limit]
    text = ", ".join(f"{name or '?'} ({count})" for name, count in ranked)
    return text + (f" +{len(counts) - limit}" if len(counts) > limit else "")


def session_as_json(info: SessionInfo) -> dict[str, object]:
    return {
        "session_id": info.session_id,
        "operations": info.op_count,
        "first_seq": info.first_seq,
        "last_seq": info.last_seq,
        "start_ns": info.first_ts_ns or info.started_ns,
        "end_ns": info.last_ts_ns or info.ended_ns,
        "operator": info.operator,
        "actors": info.actors,
        "kinds": info.kinds,
        "verbs": info.verbs,
        "dropped": info.dropped_ops,
        "oversize": info.oversize_ops,
        "truncated": info.truncated,
        "labels": info.labels,
    }


@click.command("sessions")
@database_option
@format_option("table", "json")
@max_ops_option
def command(database: str, output_format: str, max_ops: int | None) -> None:
    """List the recorded sessions with counts, time ranges, actors and drops."""
    recording = open_recording(database, max_ops=resolve_max_ops(max_ops))
    try:
        sessions = recording.sessions()
        limits = list(getattr(recording, "limit_events", []))
    finally:
        recording.close()
    for event in limits:  # a bound that was hit is reported, never hidden
        click.echo(f"kreplay: limit: {event}", err=True)
    if output_format == "json":
        payload: dict[str, object] = {"database": database, "format": recording.flavor}
        payload["sessions"] = [session_as_json(info) for info in sessions]
        click.echo(json.dumps(payload, indent=2))
        return
    table = Table(title=f"{database} ({recording.flavor}): {len(sessions)} session(s)")
    for column in ("session", "ops", "start (UTC)", "end (UTC)", "actors", "kinds", "dropped"):
        table.add_column(column, justify="right" if column in {"ops", "dropped"} else "left")
    for info in sessions:
        dropped = str(info.dropped_ops) + (" (truncated)" if info.truncated else "")
        table.add_row(
            info.session_id,
            str(info.op_count),
            _time(info.first_ts_ns or info.started_ns),
            _time(info.last_ts_ns or info.ended_ns),
            _top(info.actors),
            _top(info.kinds),
            dropped,
        )
    Console().print(table)
