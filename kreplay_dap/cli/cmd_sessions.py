"""``kreplay sessions``: list the sessions of a recording."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click
from rich.console import Console
from rich.table import Table

from kreplay_dap.cli.options import (
    database_option,
    format_option,
    max_ops_option,
    print_limits,
    resolve_max_ops,
)
from recorder.storage import SessionInfo, open_recording


def _time(ns: int | None) -> str:
    if not ns:
        return "-"
    try:
        return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, OverflowError, OSError):  # beyond datetime's years 1 to 9999
        return f"{ns} ns"


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
        sessions = recording.sessions()  # notes the sessions over the operation limit
    finally:
        recording.close()
    print_limits(recording)  # a bound that was hit is reported, never hidden
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
