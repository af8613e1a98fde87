"""A breakpoint condition that forces a long scan reports progress and honours ``pause``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from recorder.storage import Operation, RecordingWriter, SessionInfo

from .client import DapClient, SchemaChecker, schema_checker

OPS = 60_000


@pytest.fixture(scope="module")
def long_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("long") / "long.db"
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("long", operator="bench"))
        for start in range(0, OPS, 10_000):
            batch = []
            for i in range(start, start + 10_000):
                body = {"kind": "Pod", "metadata": {"name": f"p{i % 500}", "namespace": "default",
                        "resourceVersion": str(i)}, "status": {"phase": "Running"}}  # fmt: skip
                batch.append(Operation("long", 0, 1_000 + i, "get", api_version="v1", kind="Pod",
                             namespace="default", name=f"p{i % 500}", status_code=200,
                             response_body=json.dumps(body).encode(), actor="a"))  # fmt: skip
            writer.append(batch)
        writer.end_session("long")
    return path


@pytest.fixture
def client() -> Iterator[DapClient]:
    checker: SchemaChecker | None = schema_checker()
    dap = DapClient(checker)
    yield dap
    dap.close()


def test_long_conditional_scan_shows_progress_and_stops_on_pause(
    client: DapClient, long_session: Path
) -> None:
    client.request("initialize", {"adapterID": "kreplay", "supportsProgressReporting": True})
    client.request("launch", {"database": str(long_session), "loopDetection": {"enabled": False}})
    client.request("configurationDone")
    client.event("stopped")
    never = [{"name": "get Pod", "condition": "object.status.phase == 'Lost'"}]
    client.request("setFunctionBreakpoints", {"breakpoints": never})
    client.request("continue", {"threadId": 1})
    start = client.event("progressStart")["body"]
    assert start["cancellable"] is True
    client.request("pause", {"threadId": 1})
    stopped = client.event("stopped")["body"]
    assert stopped["reason"] == "pause"
    assert client.event("progressEnd")["body"]["progressId"] == start["progressId"]
    frames = client.request("stackTrace", {"threadId": stopped["threadId"]})["stackFrames"]
    reached = int(frames[0]["name"].rsplit("#", 1)[1].rstrip(")"))
    assert 1 < reached < OPS
