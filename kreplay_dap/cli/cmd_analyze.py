"""``kreplay analyze SESSION`` (findings) and ``kreplay analyze causality SESSION``.

Both forms work: the group routes anything that is not a subcommand name to the hidden
default command ``run``. Exit codes: 0 when the analysis ran, 2 for bad input (mapped
in ``main``), 1 with ``--fail-on TYPE[,TYPE]`` when such a finding exists.
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kreplay_dap.analysis import (
    FINDING_TYPES,
    SEVERITIES,
    AnalysisOptions,
    AnalysisReport,
    CausalityGraph,
    analyze,
    causality,
)
from kreplay_dap.analysis.model import slow_threshold_ms
from kreplay_dap.cli.options import (
    database_option,
    format_option,
    max_ops_option,
    print_limits,
    resolve_max_ops,
)
from recorder.storage import open_recording

EXIT_FINDINGS = 1
SHOWN_PER_SEVERITY = 50
SHOWN_CHAINS = 30
_COLORS = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


class _AnalyzeGroup(click.Group):
    """``analyze SESSION ...`` runs ``run``; ``analyze causality SESSION`` the subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] in {"-h", "--help"}:
            return super().parse_args(ctx, args)
        if not args or args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group("analyze", cls=_AnalyzeGroup)
def command() -> None:
    """Find loops, fights, conflicts, error storms, races and slow calls in a session.

    \b
    kreplay analyze SESSION -d DB [--loops/--no-loops] [--slow/--no-slow]
        [--errors/--no-errors] [--races/--no-races] [--threshold MS] [--window N]
        [--format table|json] [--fail-on TYPE[,TYPE]]   (details: analyze run --help)
    kreplay analyze causality SESSION -d DB [--format table|json]
    """


def _fail_on(_ctx: click.Context, _param: click.Parameter, value: str | None) -> set[str]:
    if not value:
        return set()
    types = {item.strip() for item in value.split(",") if item.strip()}
    unknown = sorted(types - set(FINDING_TYPES))
    if unknown:
        raise click.BadParameter(
            f"unknown finding type(s) {', '.join(unknown)}; choose from {', '.join(FINDING_TYPES)}"
        )
    return types


@command.command("run", hidden=True)
@click.argument("session")
@database_option
@click.option("--loops/--no-loops", default=True, help="Loops, no-op writes, fights.")
@click.option("--slow/--no-slow", default=True, help="Slow operations and latency outliers.")
@click.option("--errors/--no-errors", default=True, help="Error and conflict storms.")
@click.option("--races/--no-races", default=True, help="Stale reads and lost updates.")
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="Slow threshold in ms (default: $REPLAY_SLOW_THRESHOLD, else 1000).",
)
@click.option(
    "--window",
    type=click.IntRange(2, 1_000_000),
    default=None,
    help="Minimum repeats of a loop, fight or storm (default 5).",
)
@click.option("--fail-on", callback=_fail_on, help="Exit 1 when a finding of these types exists.")
@max_ops_option
@format_option("table", "json")
def run(
    session: str,
    database: str,
    loops: bool,
    slow: bool,
    errors: bool,
    races: bool,
    threshold: float | None,
    window: int | None,
    fail_on: set[str],
    max_ops: int | None,
    output_format: str,
) -> int:
    """Analyze SESSION of the recording DB."""
    limit = resolve_max_ops(max_ops)
    options = AnalysisOptions(
        loops=loops, slow=slow, errors=errors, races=races,
        threshold_ms=slow_threshold_ms(threshold), window=window, max_ops=limit,
    )  # fmt: skip
    recording = open_recording(database, max_ops=limit)
    try:
        report = analyze(recording, session, options)
    finally:
        recording.close()
    print_limits(recording)
    if output_format == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        print_report(Console(), report, show_errors=errors)
    failing = [finding for finding in report.findings if finding.type in fail_on]
    return EXIT_FINDINGS if failing else 0


def print_report(console: Console, report: AnalysisReport, show_errors: bool = True) -> None:
    counted = f", {report.errors['total']} error(s)" if show_errors else ""
    console.print(
        f"[bold]session {report.session}[/]: {report.total_operations} operations, "
        f"{len(report.findings)} finding(s){counted}"
    )
    for severity in SEVERITIES:
        findings = [f for f in report.findings if f.severity == severity]
        if not findings:
            continue
        table = Table(title=Text(f"{severity.upper()} ({len(findings)})", style=_COLORS[severity]))
        for column in ("type", "objects", "seqs", "count", "what to do"):
            table.add_column(column, overflow="fold")
        for finding in findings[:SHOWN_PER_SEVERITY]:
            objects = ", ".join(finding.objects[:3]) + (" ..." if len(finding.objects) > 3 else "")
            seqs = f"#{finding.first_seq}-#{finding.last_seq}"
            table.add_row(finding.type, objects, seqs, str(finding.count), finding.description)
        console.print(table)
        if len(findings) > SHOWN_PER_SEVERITY:
            console.print(f"  ... {len(findings) - SHOWN_PER_SEVERITY} more (--format json)")
    _print_extras(console, report, show_errors)


def _print_extras(console: Console, report: AnalysisReport, show_errors: bool) -> None:
    if report.slow_operations:
        table = Table(title="slowest operations")
        for column in ("seq", "operation", "object", "actor", "ms"):
            table.add_column(column)
        for row in report.slow_operations[:10]:
            where = "/".join(str(row[k]) for k in ("kind", "namespace", "name") if row[k])
            table.add_row(str(row["sequence"]), str(row["operation"]), where,
                          str(row["actor"]), f"{row['duration_ms']:.0f}")  # fmt: skip
        console.print(table)
    by_type: dict[str, int] = report.errors.get("by_type", {}) if show_errors else {}
    if by_type:
        ranked = sorted(by_type.items(), key=lambda item: -item[1])[:10]
        console.print("errors: " + ", ".join(f"{name} x{count}" for name, count in ranked))
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")
    if not report.findings:
        console.print("[green]no findings[/]")


@command.command("causality")
@click.argument("session")
@database_option
@click.option("--max-nodes", type=click.IntRange(10, 10_000_000), default=50_000)
@max_ops_option
@format_option("table", "json")
def causality_command(
    session: str, database: str, max_nodes: int, max_ops: int | None, output_format: str
) -> None:
    """Which write caused which watch event, reconcile and next write, across controllers."""
    limit = resolve_max_ops(max_ops)
    recording = open_recording(database, max_ops=limit)
    try:
        graph = causality(recording, session, max_nodes=max_nodes, max_ops=limit)
    finally:
        recording.close()
    print_limits(recording)
    if output_format == "json":
        click.echo(json.dumps(graph.to_json(), indent=2))
        return
    print_chains(Console(), graph)


def print_chains(console: Console, graph: CausalityGraph) -> None:
    summary: dict[str, Any] = {"nodes": len(graph.nodes), "edges": len(graph.edges)}
    console.print(
        f"[bold]session {graph.session}[/]: {summary['nodes']} nodes, {summary['edges']} edges, "
        f"{len(graph.chains)} chain(s) across controllers"
        + (" [yellow](truncated)[/]" if graph.truncated else "")
    )
    for chain in graph.chains[:SHOWN_CHAINS]:
        console.print("  " + " -> ".join(graph.describe(node) for node in chain), highlight=False)
    if len(graph.chains) > SHOWN_CHAINS:
        console.print(f"  ... {len(graph.chains) - SHOWN_CHAINS} more (--format json)")
