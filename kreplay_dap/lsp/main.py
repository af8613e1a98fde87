"""Start the language server over stdio; logs go to stderr (stdout carries the protocol)."""

from __future__ import annotations

import logging
import sys

GIL_SWITCH_S = 0.0005


def run(log_level: str = "INFO") -> None:
    logging.basicConfig(
        stream=sys.stderr, level=log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    from kreplay_dap.lsp.server import server  # the module builds the server on import

    # Indexing and analysis threads hold the GIL for long stretches; a short switch
    # interval lets the event loop answer requests between them.
    sys.setswitchinterval(GIL_SWITCH_S)

    server.start_io()
