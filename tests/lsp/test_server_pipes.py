"""Middle tier: the server in this process, on a thread, driven over a pair of OS pipes.

As pygls tests its own servers: real framing and real JSON-RPC dispatch, no subprocess,
so the server's state can be inspected after the exchange.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kreplay_dap.lsp.server import KreplayLanguageServer, build_server
from tests.lsp.client import LspConnection
from tests.lsp.scenario import ReconcileRecorder, build, source_line
from tests.lsp.test_server_e2e import MARKERS, RECORDED, indexed, lenses_by_line, settings

JOIN_S = 30.0


@dataclass
class PipedServer:
    server: KreplayLanguageServer
    client: LspConnection
    thread: threading.Thread

    def close(self) -> None:
        try:
            self.client.request("shutdown", None, timeout=JOIN_S)
            self.client.notify("exit", None)
            self.thread.join(JOIN_S)
        finally:
            self.client.outgoing.close()  # end of input stops a server that ignored exit
            self.thread.join(JOIN_S)
            self.client.incoming.close()


def start_piped() -> PipedServer:
    to_server_read, to_server_write = os.pipe()
    to_client_read, to_client_write = os.pipe()
    server = build_server()
    server_in, server_out = os.fdopen(to_server_read, "rb"), os.fdopen(to_client_write, "wb")

    def serve() -> None:
        try:
            server.start_io(server_in, server_out)
        finally:
            server_out.close()
            server_in.close()

    thread = threading.Thread(target=serve, name="kreplay-lsp", daemon=True)
    thread.start()
    client = LspConnection(os.fdopen(to_client_read, "rb"), os.fdopen(to_server_write, "wb"))
    return PipedServer(server, client, thread)


@pytest.fixture
def piped() -> Iterator[PipedServer]:
    running = start_piped()
    try:
        yield running
    finally:
        running.close()
        assert not running.thread.is_alive()


def test_lenses_over_pipes_match_the_server_index(tmp_path: Path, piped: PipedServer) -> None:
    scenario, _ = build(tmp_path, reconciles=8)
    piped.client.initialize(tmp_path, settings(scenario))
    indexed(piped.client, last_seq=52)
    uri = piped.client.open(scenario.source)
    lenses = lenses_by_line(piped.client, uri)
    assert sorted(lenses) == sorted(source_line(marker) for marker in MARKERS)
    index = piped.server.service.tracked[0].index
    assert index is not None
    for line, stats in index.files[RECORDED].items():
        assert lenses[line]["command"]["title"].startswith(f"{stats.calls} calls")


def test_replaced_recording_over_pipes(tmp_path: Path, piped: PipedServer) -> None:
    scenario, _ = build(tmp_path, reconciles=4)
    piped.client.initialize(tmp_path, settings(scenario))
    indexed(piped.client, last_seq=26)
    for path in tmp_path.glob("rec.db*"):
        path.unlink()
    ReconcileRecorder(scenario.database, RECORDED).append(1)
    indexed(piped.client, last_seq=6)
    item = piped.server.service.tracked[0]
    assert item.index is not None and item.index.operations == 6
    assert item.analyzed and item.superseded == 0


def test_hover_diff_needs_no_reader_over_pipes(tmp_path: Path, piped: PipedServer) -> None:
    scenario, _ = build(tmp_path, reconciles=8)
    piped.client.initialize(tmp_path, settings(scenario))
    indexed(piped.client, last_seq=52)
    uri = piped.client.open(scenario.source)
    item = piped.server.service.tracked[0]
    item.differ = None  # the diff was computed while indexing
    hover = piped.client.request(
        "textDocument/hover",
        {"textDocument": {"uri": uri}, "position": {"line": source_line("patch") - 1,
                                                     "character": 8}},
    )  # fmt: skip
    assert "**Most recent write** (seq 42)" in hover["contents"]["value"]
    assert "- spec.replicas: 1\n+ spec.replicas: 3" in hover["contents"]["value"]
