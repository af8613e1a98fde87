"""``kreplay verify DB``: integrity checks of a recording (ours or the Go tool's).

Exit codes: 0 when every check passes, 1 when problems were found, 2 when the file
cannot be read at all.
"""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from kreplay_dap.analysis import verify_recording
from kreplay_dap.cli.options import (
    database_option,
    format_option,
    max_ops_option,
    print_limit_events,
    resolve_max_ops,
)

EXIT_PROBLEMS = 1


@click.command("verify")
@click.argument("path", required=False)
@database_option
@max_ops_option
@format_option("table", "json")
def command(path: str | None, database: str, max_ops: int | None, output_format: str) -> int:
    """Check sequence gaps and duplicates, timestamps, durations, spans and the schema."""
    report = verify_recording(path or database, max_ops=resolve_max_ops(max_ops))
    print_limit_events(report.limits)  # the operations past it were not checked
    if output_format == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        console = Console()
        console.print(
            f"[bold]{report.path}[/] ({report.flavor}): {report.sessions} session(s), "
            f"{report.operations} operations"
        )
        if report.ok:
            console.print("[green]ok: no problems found[/]")
        else:
            table = Table(title=f"{len(report.problems)} problem(s)")
            for column in ("check", "session", "count", "examples"):
                table.add_column(column, overflow="fold")
            for problem in report.problems:
                table.add_row(problem.check, problem.session, str(problem.count),
                              "; ".join(problem.examples))  # fmt: skip
            console.print(table)
    return 0 if report.ok else EXIT_PROBLEMS
