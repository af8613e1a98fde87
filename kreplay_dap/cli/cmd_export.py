"""``kreplay export SESSION -d DB --format jsonl|seed [-o PATH]``."""

from __future__ import annotations

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from kreplay_dap.cli.options import (
    database_option,
    max_ops_option,
    print_limits,
    resolve_max_ops,
)
from recorder.storage import open_recording
from recorder.storage.exporter import FORMATS, check_output, export_session

MAX_FILE_STEM = 120


def default_seed_path(session_id: str) -> str:
    """``SESSION.db`` in the current directory, named safely: a session id is data, never a
    path. Path separators and every character that is not a letter, a digit, ``-``, ``_``
    or ``.`` become ``_``, leading dots are dropped (no ``..``, no hidden file) and the name
    is shortened; ``../x``, ``/tmp/x`` and ``team/prod`` give ``_x``, ``_tmp_x`` and
    ``team_prod``."""
    kept = session_id[: MAX_FILE_STEM * 4]
    safe = "".join(char if char.isalnum() or char in "-_." else "_" for char in kept)
    stem = safe.lstrip(".")[:MAX_FILE_STEM] or "session"
    return f"{stem}.db"


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
    help="Output path ('-' = stdout, jsonl only). Default: stdout for jsonl; for seed, "
    "SESSION.db in the current directory (characters unsafe in a file name become '_').",
)
@max_ops_option
def command(
    session: str, database: str, output_format: str, output: str | None, max_ops: int | None
) -> None:
    """Write one session out as JSON lines or as a replay-cli database."""
    target = output or ("-" if output_format == "jsonl" else default_seed_path(session))
    recording = open_recording(database, max_ops=resolve_max_ops(max_ops))
    console = Console(stderr=True)
    try:
        recording.session(session)  # unknown sessions fail before any output starts
        check_output(output_format, target)
        shown = target != "-" and console.is_terminal  # else it would leave a blank line
        columns = (TextColumn("exporting"), BarColumn(), TaskProgressColumn())
        with Progress(*columns, console=console, disable=not shown, transient=True) as progress:
            task = progress.add_task("export", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=max(total, done, 1))

            count = export_session(recording, session, output_format, target, advance)
    finally:
        recording.close()
    print_limits(recording)
    if target != "-":
        click.echo(f"exported {count:,} operations of {session} to {target} ({output_format})")
