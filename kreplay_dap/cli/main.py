"""Entry point of ``kreplay``/``replay-cli``: a thin layer over the libraries.

Errors are converted here, in one place: a ``KreplayError`` (or a click usage error)
becomes one line on stderr and exit code 2. Each command lives in its own module
``kreplay_dap.cli.cmd_<name>`` exposing a click command named ``command``.
"""

from __future__ import annotations

import importlib
import sys

import click

from recorder.errors import KreplayError

EXIT_BAD_INPUT = 2

# One module per command; adding a command is adding its module name here.
COMMAND_MODULES: tuple[str, ...] = (
    "sessions",
    "import",
    "export",
    "lsp",
    "replay",
    "demo",
    "analyze",
    "verify",
    "serve",
    "live",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kreplay")
def cli() -> None:
    """kreplay: record, replay and debug Kubernetes operators, forwards and backwards."""


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"kreplay_dap.cli.cmd_{name}")
        cli.add_command(module.command)


def one_line(message: str) -> str:
    """An error message on one line. Messages quoting a parser's multi-line report (YAML
    marks a position with the source line and a caret under it) keep their text lines; the
    quoted source (indented four spaces or more) and the carets are left out."""
    lines = [line for line in message.splitlines() if line.strip()]
    kept = [
        line.strip() for line in lines if not line.startswith("    ") and set(line.strip()) != {"^"}
    ]
    text = " ".join(kept) if kept else " ".join(message.split())
    return text.rstrip(":") if len(lines) > 1 else text


def _fail(message: str) -> int:
    click.echo(f"kreplay: error: {one_line(message)}", err=True)
    return EXIT_BAD_INPUT


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and map every error to a one-line message and an exit code."""
    _register_commands()
    try:
        result = cli.main(args=argv, prog_name="kreplay", standalone_mode=False)
    except KreplayError as error:
        return _fail(str(error))
    except click.exceptions.Abort:
        click.echo("kreplay: aborted", err=True)
        return 130
    except click.ClickException as error:
        return _fail(error.format_message())
    except OSError as error:
        return _fail(f"{error.strerror or error} ({error.filename or ''})")
    if isinstance(result, int):
        return result
    return 0


if __name__ == "__main__":
    sys.exit(main())
