"""``kreplay live``: re-run the real operator against a recording and report divergences."""

from __future__ import annotations

import json
import os

import click
from rich.console import Console
from rich.table import Table

from kreplay_dap.cli.options import (
    database_option,
    format_option,
    max_ops_option,
    print_limit_events,
    resolve_max_ops,
)
from kreplay_dap.live.launch import OperatorCommand
from kreplay_dap.live.report import Divergence, LiveSummary
from kreplay_dap.live.runner import LiveHooks, LiveOptions, LiveRun

EXIT_DIVERGED = 1


def _print_divergence(divergence: Divergence) -> None:
    click.echo(f"kreplay live: DIVERGENCE {divergence.message}", err=True)
    for difference in divergence.differences[:20]:
        click.echo(
            f"    {difference.path}: recorded {json.dumps(difference.recorded)}"
            f" -> live {json.dumps(difference.live)}",
            err=True,
        )


def _print_started(command: OperatorCommand, kubeconfig: str) -> None:
    click.echo(f"kreplay live: operator started with KUBECONFIG={kubeconfig}", err=True)
    if command.debug_port is not None:
        attach = command.attach_configuration(os.getcwd())
        click.echo(
            f"kreplay live: debugpy waits on 127.0.0.1:{command.debug_port}; attach with:\n"
            + json.dumps(attach, indent=2),
            err=True,
        )


def _print_table(summary: LiveSummary) -> None:
    console = Console()
    verdict = "no divergence" if summary.clean else f"{len(summary.divergences)} divergence(s)"
    console.print(
        f"[bold]live replay of {summary.session_id}[/] (actor {summary.actor or '?'}): "
        f"{len(summary.matched)} matched step(s), {verdict}, "
        f"{len(summary.unconsumed)} recorded write(s) not made"
    )
    if summary.divergences:
        table = Table("kind", "step", "verb", "object", "detail")
        for divergence in summary.divergences[:200]:
            detail = ", ".join(
                f"{d.path}: {json.dumps(d.recorded)} -> {json.dumps(d.live)}"
                for d in divergence.differences[:3]
            )
            table.add_row(
                divergence.kind, str(divergence.step or "-"), divergence.verb,
                divergence.object, detail,
            )  # fmt: skip
        console.print(table)


@click.command("live", context_settings={"ignore_unknown_options": False})
@click.argument("session")
@database_option
@click.option("--from-step", type=click.IntRange(min=0), default=0, help="Start at step N.")
@click.option("--until-step", type=click.IntRange(min=0), default=None, help="Stop at step M.")
@click.option("--debug", is_flag=True, help="Run the operator under debugpy and wait for a client.")
@click.option("--debug-port", type=click.IntRange(1, 65535), default=None, help="debugpy port.")
@click.option("--stop-on-divergence", is_flag=True, help="End the run at the first divergence.")
@click.option("--ignore-path", "ignore_paths", multiple=True, help="JSON path to ignore (repeat).")
@click.option("--actor", default=None, help="Recorded actor to replay (default: busiest writer).")
@click.option("--idle-timeout", type=float, default=5.0, show_default=True, help="Idle seconds.")
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Run limit (s).")
@max_ops_option
@format_option("table", "json")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def command(
    session: str,
    database: str,
    from_step: int,
    until_step: int | None,
    debug: bool,
    debug_port: int | None,
    stop_on_divergence: bool,
    ignore_paths: tuple[str, ...],
    actor: str | None,
    idle_timeout: float,
    timeout: float,
    max_ops: int | None,
    output_format: str,
    command: tuple[str, ...],
) -> int:
    """Re-run the operator (after --) against SESSION and report where it diverges."""
    options = LiveOptions(
        database=database, session_id=session, command=list(command), from_step=from_step,
        until_step=until_step, debug=debug or debug_port is not None, debug_port=debug_port,
        stop_on_divergence=stop_on_divergence, ignore_paths=ignore_paths, actor=actor,
        idle_seconds=None if debug else idle_timeout, timeout_seconds=timeout,
        max_ops=resolve_max_ops(max_ops),
    )  # fmt: skip
    hooks = LiveHooks(on_divergence=_print_divergence, on_started=_print_started)
    summary = LiveRun(options, hooks).run()
    print_limit_events(summary.limits)
    if output_format == "json":
        click.echo(json.dumps(summary.to_json(), indent=2))
    else:
        _print_table(summary)
    return 0 if summary.clean else EXIT_DIVERGED
