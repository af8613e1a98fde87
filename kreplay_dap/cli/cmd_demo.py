"""``kreplay demo``: record the buggy sample operator, find its hot loop, show what to do next."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:  # the demo pulls in kubernetes and the API server: import it on use
    from kreplay_dap.analysis import Finding
    from kreplay_dap.demo import DemoResult

EXIT_LOOP_NOT_FOUND = 1


class _Steps:
    """Shows each step of the recording as a spinner line that turns into a tick."""

    def __init__(self, console: Console, progress: Progress) -> None:
        self.console = console
        self.progress = progress
        self.task = progress.add_task("starting", total=None)
        self.current = ""

    def __call__(self, message: str, changes: int) -> None:
        if message != self.current:
            if self.current:
                self.console.print(f"[green]\u2713[/] {self.current}")
            self.current = message
        suffix = f" [dim]({changes} Widget changes seen)[/]" if changes else ""
        self.progress.update(self.task, description=message + suffix)

    def finish(self) -> None:
        if self.current:
            self.console.print(f"[green]\u2713[/] {self.current}")


def _record(console: Console, output: Path) -> DemoResult:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    from kreplay_dap.demo import run_demo

    with Progress(*columns, console=console, transient=True) as progress:
        steps = _Steps(console, progress)
        result = run_demo(output, steps)
        steps.finish()
    return result


def _sessions_table(result: DemoResult) -> Table:
    table = Table(title=f"Sessions in {result.database}")
    for column in ("session", "operations", "verbs", "kinds"):
        table.add_column(column, justify="right" if column == "operations" else "left")
    for info in result.sessions:
        verbs = ", ".join(f"{verb} {count}" for verb, count in sorted(info.verbs.items()))
        ranked = sorted(info.kinds.items(), key=lambda item: -item[1])[:3]
        kinds = ", ".join(f"{kind or '?'} {count}" for kind, count in ranked)
        table.add_row(info.session_id, str(info.op_count), verbs, kinds)
    return table


def _finding_line(finding: Finding) -> str:
    period = ""
    if finding.period_ops is not None or finding.period_s is not None:
        ops = f"{finding.period_ops:.1f} ops" if finding.period_ops is not None else "?"
        seconds = f"{finding.period_s:.3f} s" if finding.period_s is not None else "?"
        period = f", period {ops} / {seconds}"
    objects = ", ".join(finding.objects[:3]) or "-"
    return (
        f"[bold]{finding.type}[/] ({escape(finding.severity)}) {escape(objects)}: "
        f"{finding.count}\u00d7"
        f"{period}, steps {finding.first_seq}..{finding.last_seq}\n"
        f"    {escape(finding.description)}"
    )


def _shown_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def _print_next_steps(console: Console, result: DemoResult, step: int) -> None:
    from kreplay_dap.demo import launch_configuration, next_commands, operator_script

    database = _shown_path(result.database)
    script = _shown_path(operator_script("hotloop"))
    console.print("\n[bold]Explore it further:[/]")
    for command_line, purpose in next_commands(database, result.session_id, script, step):
        console.print(f"  [cyan]{command_line}[/]", soft_wrap=True)
        console.print(f"      [dim]{purpose}[/]")
    launch_db = str(result.database.resolve())
    if not Path(database).is_absolute() and not database.startswith(".."):
        launch_db = "${workspaceFolder}/" + Path(database).as_posix()
    launch = launch_configuration(launch_db, result.session_id)
    config = {"version": "0.2.0", "configurations": [launch]}
    console.print("\n[bold]VS Code[/] (.vscode/launch.json, with the kreplay extension):")
    # Plain text, never wrapped, so that it can be pasted as it is.
    console.print(json.dumps(config, indent=2), soft_wrap=True, markup=False)


@click.command("demo")
@click.option(
    "-o",
    "--output",
    default="kreplay-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the demo's database (demo.db is replaced).",
)
def command(output: Path) -> int:
    """Record a buggy sample operator against an in-memory cluster and find its hot loop."""
    console = Console(highlight=False)
    console.print("[bold]kreplay demo[/]: recording the hotloop sample operator, no cluster needed")
    from kreplay_dap.analysis import LOOP_LIKE

    result = _record(console, output)
    console.print(_sessions_table(result))
    loops = result.report.of_type(*LOOP_LIKE)
    # The sample's bug is its Widget rewriting itself; other loops are its consequences.
    loops.sort(key=lambda finding: not any(o.startswith("Widget/") for o in finding.objects))
    console.print(f"\n[bold]Analysis[/] of {result.session_id}: {len(result.report)} finding(s)")
    for finding in result.report.findings[:10]:
        console.print("  " + _finding_line(finding))
    if not loops:
        console.print("[red]The hot loop was not found: please report this as a bug.[/]")
        return EXIT_LOOP_NOT_FOUND
    console.print(f"\n[green]Found the hot loop:[/] {escape(loops[0].description)}")
    _print_next_steps(console, result, loops[0].first_seq)
    return 0
