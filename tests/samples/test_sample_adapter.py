"""The committed sample recordings in the real debug adapter (``python -m kreplay_dap``),
launched with the configurations of ``samples/.vscode/launch.json``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.dap.client import DapClient, schema_checker
from tests.samples.harness import REPO_ROOT

SAMPLES = REPO_ROOT / "samples"


def launch_arguments(session: str) -> dict[str, Any]:
    """The launch.json configuration of ``session``, variables substituted as VS Code does."""
    document = json.loads((SAMPLES / ".vscode" / "launch.json").read_text())
    [config] = [c for c in document["configurations"] if c["session"] == session]
    text = json.dumps({k: v for k, v in config.items() if k not in {"type", "request", "name"}})
    arguments: dict[str, Any] = json.loads(text.replace("${workspaceFolder}", str(SAMPLES)))
    return arguments


def line_of(path: str, needle: str) -> int:
    lines = (SAMPLES / path).read_text().splitlines()
    return next(number for number, text in enumerate(lines, 1) if needle in text)


@pytest.fixture
def client() -> Iterator[DapClient]:
    dap = DapClient(schema_checker())
    yield dap
    dap.close()


def start(client: DapClient, session: str, filters: list[str]) -> dict[str, Any]:
    client.request("initialize", {"adapterID": "kreplay"})
    client.request("launch", launch_arguments(session))
    client.event("initialized")
    client.request("setExceptionBreakpoints", {"filters": filters})
    client.request("configurationDone")
    body: dict[str, Any] = client.event("stopped")["body"]
    return body


def test_hot_loop_is_a_breakpoint_hit_and_steps_back(client: DapClient) -> None:
    assert start(client, "hotloop-buggy", ["loops"])["reason"] == "entry"
    found = [client.event("breakpoint")["body"]["breakpoint"] for _ in range(2)]
    widget_loops = [b for b in found if "Widget default/web" in b.get("message", "")]
    assert widget_loops, found
    client.request("continue", {"threadId": 1})
    stopped = client.event("stopped")["body"]
    assert stopped["reason"] == "breakpoint"
    client.request("stepBack", {"threadId": client.last_thread})
    assert client.event("stopped")["body"]["reason"] == "step"


def test_operator_source_breakpoint_through_the_sample_path_mappings(client: DapClient) -> None:
    start(client, "hotloop-buggy", [])
    source = str(SAMPLES / "operators" / "hotloop.py")
    line = line_of("operators/hotloop.py", "ctx.custom.patch_namespaced_custom_object_status(")
    answer = client.request(
        "setBreakpoints", {"source": {"path": source}, "breakpoints": [{"line": line}]}
    )
    assert [b["verified"] for b in answer["breakpoints"]] == [True]
    client.request("continue", {"threadId": 1})
    assert client.event("stopped")["body"]["reason"] == "breakpoint"
    frames = client.request("stackTrace", {"threadId": client.last_thread})["stackFrames"]
    assert any(f.get("source", {}).get("path") == source and f["line"] == line for f in frames)


def test_conflict_storm_stops_on_the_conflict_filter(client: DapClient) -> None:
    start(client, "conflicts-buggy", ["conflict"])
    client.request("continue", {"threadId": 1})
    stopped = client.event("stopped")["body"]
    assert stopped["reason"] == "exception"
    info = client.request("exceptionInfo", {"threadId": client.last_thread})
    assert "409" in json.dumps(info)
