"""Start the language server over stdio; logs go to stderr (stdout carries the protocol)."""

from __future__ import annotations

import logging
import sys


def run(log_level: str = "INFO") -> None:
    logging.basicConfig(
        stream=sys.stderr, level=log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    from kreplay_dap.lsp.server import server  # the module builds the server on import

    server.start_io()
