"""End to end: what used to kill or deafen ``python -m kreplay_dap`` is now reported and
the adapter keeps serving (corrupt pages, impossible breakpoints, failing conditions, bad
frames), and a run waits for the loop breakpoints of the analysis."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kreplay_dap.dap.framing import MAX_FRAME_BYTES
from tests.replay.scenario import WIDGET_FILE, Scenario

from .client import LOOPS, NO_LOOPS, DapClient, schema_checker


@pytest.fixture
def client() -> Iterator[DapClient]:
    dap = DapClient(schema_checker())
    yield dap
    dap.close()


def start(client: DapClient, path: Path, filters: list[str], **launch: Any) -> dict[str, Any]:
    client.request("initialize", {"adapterID": "kreplay"})
    client.request("launch", {"database": str(path), **launch})
    client.request("setExceptionBreakpoints", {"filters": filters})
    client.request("configurationDone")
    body: dict[str, Any] = client.event("stopped")["body"]
    return body


def go(client: DapClient, command: str) -> dict[str, Any]:
    client.request(command, {"threadId": client.last_thread})
    body: dict[str, Any] = client.event("stopped")["body"]
    return body


def position(client: DapClient) -> int:
    frames = client.request("stackTrace", {"threadId": 1})["stackFrames"]
    return int(frames[0]["name"].rsplit("#", 1)[1].rstrip(")"))


def stderr(client: DapClient) -> str:
    for _ in range(100):
        body = client.event("output")["body"]
        if body["category"] == "stderr":
            return str(body["output"])
    raise AssertionError("no stderr output")


def corrupt_copy(scenario: Scenario, directory: Path, table: str) -> Path:
    """The scenario with the first page of ``table`` (a table or index) overwritten."""
    path = directory / f"{table}.db"
    shutil.copy(scenario.path, path)
    with sqlite3.connect(path) as conn:
        page = conn.execute("SELECT min(pageno) FROM dbstat WHERE name = ?", (table,)).fetchone()
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(path, "r+b") as file:
        file.seek((page[0] - 1) * size)
        file.write(b"\xde\xad\xbe\xef" * 64)
    return path


def test_a_corrupt_index_page_fails_one_search_not_the_adapter(
    client: DapClient, scenario: Scenario, tmp_path: Path
) -> None:
    start(client, corrupt_copy(scenario, tmp_path, "ops_by_status"), ["errors"], **NO_LOOPS)
    assert go(client, "stepIn")["reason"] == "step"
    stopped = go(client, "continue")  # the errors filter reads the corrupt index
    assert (stopped["reason"], stopped["description"]) == ("exception", "replay error")
    assert "corrupt" in stopped["text"] and position(client) == 2
    assert "kreplay: continue:" in stderr(client)
    assert go(client, "stepIn")["reason"] == "step" and position(client) == 3
    client.request("disconnect")
    assert client.close() == 0


def test_a_step_that_cannot_be_read_stops_on_the_step_before(
    client: DapClient, scenario: Scenario, tmp_path: Path
) -> None:
    start(client, corrupt_copy(scenario, tmp_path, "callsites"), [], **NO_LOOPS)
    for _ in range(3):
        go(client, "stepIn")
    stopped = go(client, "stepIn")  # #5 has call sites, on the corrupt page
    assert stopped["reason"] == "exception" and "corrupt" in stopped["text"]
    assert position(client) == 4
    assert go(client, "stepBack")["reason"] == "step" and position(client) == 3


def test_impossible_breakpoints_and_failing_conditions_leave_the_adapter_up(
    client: DapClient, scenario: Scenario
) -> None:
    start(client, scenario.path, [], **NO_LOOPS)
    listing = {"sourceReference": 1, "name": "listing"}
    past = client.request("setBreakpoints", {"source": listing, "breakpoints": [{"line": 10**5}]})
    assert past["breakpoints"][0]["verified"] is False
    specs = [{"line": 57, "condition": "object.metadata in object"}, {"line": 42, "condition": "x"}]
    code = client.request("setBreakpoints", {"source": {"path": WIDGET_FILE}, "breakpoints": specs})
    assert [b["verified"] for b in code["breakpoints"]] == [True, False]
    assert go(client, "continue")["description"] == "end of recording"
    assert "condition failed at #7" in stderr(client)
    assert client.request("threads")["threads"] and client.process.poll() is None


def test_without_stop_on_entry_the_run_stops_at_the_hot_loop(
    client: DapClient, scenario: Scenario
) -> None:
    stopped = start(client, scenario.path, ["loops"], stopOnEntry=False, **LOOPS)
    assert stopped["reason"] == "breakpoint" and stopped["description"].startswith(
        "reconcile loop: update Widget default/w1"
    )
    assert position(client) == scenario.marks["loop_update"]


def test_a_frame_without_content_length_costs_only_itself(client: DapClient) -> None:
    unframed = json.dumps({"seq": 90, "type": "request", "command": "threads"}).encode()
    client.send_raw(b"X-Foo: 1\r\n\r\n" + unframed)
    assert client.request("threads") == {"threads": []}
    outputs = [client.event("output")["body"]["output"] for _ in range(2)]
    assert "without Content-Length" in outputs[0] and "skipped" in outputs[1]
    assert client.request("threads") == {"threads": []}


def test_an_oversized_frame_is_dropped_and_the_next_one_answered(client: DapClient) -> None:
    size = MAX_FRAME_BYTES + 1
    client.send_raw(b"Content-Length: %d\r\n\r\n" % size)
    assert "exceeds" in client.event("output")["body"]["output"]  # reported before the body
    client.send_raw(b" " * size)
    assert client.request("threads") == {"threads": []}
    client.request("disconnect")
    assert client.close() == 0
