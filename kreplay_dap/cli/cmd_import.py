"""``kreplay import SRC -d DB``: a Go-tool file (either schema) or JSON lines into our format."""

from __future__ import annotations

import time

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from kreplay_dap.cli.options import database_option, max_ops_option, resolve_max_ops
from recorder.errors import InvalidInputError
from recorder.storage.importer import ImportReport, import_recording
from recorder.storage.writer import DEFAULT_MAX_OBJECT_BYTES

SHOWN_SESSIONS = 5


def session_names(names: list[str]) -> str:
    """The first few session names, and how many more there are."""
    shown = ", ".join(names[:SHOWN_SESSIONS])
    more = len(names) - SHOWN_SESSIONS
    return shown + (f" (+{more:,} more; kreplay sessions lists them)" if more > 0 else "")


def _summary(report: ImportReport, seconds: float) -> str:
    rate = report.operations / seconds if seconds > 0 else 0.0
    reader = ", rows read by a helper process" if report.helper_process else ""
    text = (
        f"imported {report.operations:,} operations and {report.spans:,} spans in"
        f" {len(report.sessions):,} session(s) from {report.source_format}"
        f" in {seconds:.2f} s ({rate:,.0f} ops/s{reader}): {session_names(report.sessions)}"
    )
    if report.over_cap:
        text += f"\nover the per-session limit, not imported: {report.over_cap:,} operations"
    if report.oversize:
        text += f"\nbodies over the size limit, replaced by a marker: {report.oversize:,}"
    return text


@click.command("import")
@click.argument("source")
@database_option
@max_ops_option
@click.option(
    "--max-object-bytes",
    type=int,
    default=DEFAULT_MAX_OBJECT_BYTES,
    show_default=True,
    help="Bodies larger than this are replaced by a marker (counted).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(
    source: str, database: str, max_ops: int | None, max_object_bytes: int, quiet: bool
) -> None:
    """Convert a replay-cli recording (either schema) or a JSON-lines export into DB."""
    if max_object_bytes <= 0:
        raise InvalidInputError("--max-object-bytes must be positive")
    limit = resolve_max_ops(max_ops)
    console = Console(stderr=True)
    columns = (
        TextColumn("importing"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    started = time.perf_counter()
    shown = not quiet and console.is_terminal  # elsewhere it would leave a blank line
    with Progress(*columns, console=console, disable=not shown, transient=True) as progress:
        task = progress.add_task("import", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=max(total, done, 1))

        report = import_recording(
            source, database, max_ops=limit, max_object_bytes=max_object_bytes, progress=advance
        )
    click.echo(_summary(report, time.perf_counter() - started))
