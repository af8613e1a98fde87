"""``python -m kreplay_dap``: the debug adapter, on stdio or ``--port N`` (TCP, localhost)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from kreplay_dap.dap.server import serve, serve_tcp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kreplay_dap", description=__doc__)
    parser.add_argument("--port", type=int, default=None, help="serve one client over TCP")
    parser.add_argument(
        "--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    options = parser.parse_args(argv)
    # stdout carries the protocol: every diagnostic goes to stderr.
    logging.basicConfig(
        stream=sys.stderr, level=options.log_level, format="kreplay-dap: %(message)s"
    )
    if options.port is not None:
        if not 0 <= options.port <= 65535:
            parser.error("--port must be between 0 and 65535")
        return serve_tcp(options.port)
    return serve(sys.stdin.buffer, sys.stdout.buffer)


def run() -> None:
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # The reader thread may still block in stdin.read(); a normal interpreter shutdown would
    # then abort on the stdin buffer lock, so leave directly once output is flushed.
    os._exit(code)


if __name__ == "__main__":
    run()
