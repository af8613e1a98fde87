"""``kreplay lsp``: the language server over stdio, for editors."""

from __future__ import annotations

import click

from kreplay_dap.lsp.main import run


@click.command("lsp")
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    default="INFO",
    show_default=True,
    help="Level of the log written to stderr.",
)
def command(log_level: str) -> None:
    """Serve the Language Server Protocol on stdin/stdout (lenses, hovers, diagnostics)."""
    run(log_level)
