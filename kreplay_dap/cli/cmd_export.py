"""``kreplay export SESSION -d DB --format jsonl|seed [-o PATH]``."""

from __future__ import annotations

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from kreplay_dap.cli.cmd_sessions import max_ops_option, resolve_max_ops
from kreplay_dap.cli.options import database_option
from recorder.storage import open_recording
from recorder.storage.exporter import FORMATS, export_session


@click.command("export")
@click.argument("session")
@database_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(list(FORMATS)),
    default="jsonl",
    show_default=True,
    help="jsonl: kreplay JSON lines; seed: the original Go tool's (later) SQLite schema.",
)
@click.option(
    "-o",
    "--output",
    default=None,
    help="Output path ('-' = stdout, jsonl only). Default: stdout for jsonl, SESSION.db for seed.",
)
@max_ops_option
def command(
    session: str, database: str, output_format: str, output: str | None, max_ops: int | None
) -> None:
    """Write one session out as JSON lines or as a replay-cli database."""
    target = output or ("-" if output_format == "jsonl" else f"{session}.db")
    recording = open_recording(database, max_ops=resolve_max_ops(max_ops))
    console = Console(stderr=True)
    try:
        quiet = target == "-"
        columns = (TextColumn("exporting"), BarColumn(), TaskProgressColumn())
        with Progress(*columns, console=console, disable=quiet, transient=True) as progress:
            task = progress.add_task("export", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=max(total, done, 1))

            count = export_session(recording, session, output_format, target, advance)
        limits = list(getattr(recording, "limit_events", []))
    finally:
        recording.close()
    for event in limits:
        console.print(f"kreplay: limit: {event}", highlight=False)
    if target != "-":
        click.echo(f"exported {count:,} operations of {session} to {target} ({output_format})")
