"""The session listing over a real adapter: the current line exists however far into the
session it is (the old listing stopped at 200,000 lines), served by streaming."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from recorder.storage import Operation, RecordingWriter, SessionInfo

from .client import DapClient, schema_checker

SESSION = "far"
FAR_SEQ = 250_003  # past the old 200,000-line cut


@pytest.fixture
def client() -> Iterator[DapClient]:
    adapter = DapClient(schema_checker())
    yield adapter
    adapter.close()


def _write(path: Path) -> None:
    ops = [
        Operation(SESSION, seq, seq, "get", kind="Pod", namespace="default", name=f"p{seq}")
        for seq in (1, 2, 3, FAR_SEQ, FAR_SEQ + 1)
    ]
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo(SESSION, started_ns=1))
        writer.append(ops)
        writer.end_session(SESSION)


def test_the_current_line_exists_far_into_the_session(client: DapClient, tmp_path: Path) -> None:
    path = tmp_path / "far.db"
    _write(path)
    client.request("initialize", {"adapterID": "kreplay"})
    client.request("launch", {"database": str(path), "loopDetection": {"enabled": False}})
    client.request("configurationDone")
    client.event("stopped")
    client.request("evaluate", {"expression": f"goto {FAR_SEQ}", "context": "repl"})
    client.event("stopped")
    frame = client.request("stackTrace", {"threadId": 1})["stackFrames"][0]
    assert frame["line"] == FAR_SEQ and frame["source"]["sourceReference"] == 1
    for _ in range(2):  # built once, then streamed again from the same file
        content = client.request("source", {"sourceReference": 1})["content"]
        lines = content.split("\n")
        assert len(lines) == FAR_SEQ + 2  # one line per seq, gaps empty, final newline
        far = lines[FAR_SEQ - 1]
        assert far.startswith(f"#{FAR_SEQ} GET") and f"Pod default/p{FAR_SEQ}" in far
        assert lines[2].startswith("#3 GET") and lines[3] == ""
