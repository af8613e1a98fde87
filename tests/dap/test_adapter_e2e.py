"""End to end: ``python -m kreplay_dap`` as a subprocess, driven over stdio.

Every message the adapter sends is validated against the DAP JSON schema (when
``../shared/dap`` exists next to the repository)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.replay.scenario import SESSION, WIDGET_FILE, Scenario

from .client import DapClient, SchemaChecker, schema_checker


@pytest.fixture(scope="module")
def checker() -> SchemaChecker | None:
    return schema_checker()


@pytest.fixture
def client(checker: SchemaChecker | None) -> Iterator[DapClient]:
    dap = DapClient(checker)
    yield dap
    dap.close()


def start(
    client: DapClient, scenario: Scenario, filters: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    capabilities = client.request(
        "initialize", {"adapterID": "kreplay", "supportsProgressReporting": True}
    )
    assert capabilities["supportsStepBack"] and capabilities["supportsDataBreakpoints"]
    client.request("launch", {"database": str(scenario.path), **extra})
    client.event("initialized")
    client.request("setExceptionBreakpoints", {"filters": filters or []})
    client.request("configurationDone")
    body: dict[str, Any] = client.event("stopped")["body"]
    return body


def position(client: DapClient) -> int:
    frames = client.request("stackTrace", {"threadId": 1})["stackFrames"]
    return int(frames[0]["name"].rsplit("#", 1)[1].rstrip(")"))


def scope_variables(client: DapClient, name: str) -> dict[str, dict[str, Any]]:
    frame = client.request("stackTrace", {"threadId": 1})["stackFrames"][0]
    scopes = {s["name"]: s for s in client.request("scopes", {"frameId": frame["id"]})["scopes"]}
    reference = scopes[name]["variablesReference"]
    return {
        v["name"]: v
        for v in client.request("variables", {"variablesReference": reference})["variables"]
    }


def step(client: DapClient, command: str) -> dict[str, Any]:
    client.request(command, {"threadId": client.last_thread})
    body: dict[str, Any] = client.event("stopped")["body"]
    return body


def test_launch_stops_on_entry_with_frames_threads_and_listing(
    client: DapClient, scenario: Scenario
) -> None:
    stopped = start(client, scenario)
    assert stopped["reason"] == "entry"
    frames = client.request("stackTrace", {"threadId": stopped["threadId"]})["stackFrames"]
    assert frames[0]["name"] == "CREATE apps/v1 Deployment default/web (#1)"
    assert frames[0]["line"] == 1 and frames[0]["source"]["sourceReference"] == 1
    client.event("output")  # background indexing (threads, findings) has finished
    threads = {t["name"] for t in client.request("threads")["threads"]}
    assert {"kubectl/main", "widget-operator/worker-2", "deployment-controller/sync"} <= threads
    listing = client.request("source", {"sourceReference": 1, "source": {"sourceReference": 1}})
    lines = listing["content"].splitlines()
    assert len(lines) == 30 and lines[23].startswith(
        "#24 UPDATE apps/v1 Deployment default/web -> 409"
    )
    operation = scope_variables(client, "Operation")
    assert operation["verb"]["value"] == '"create"' and operation["actor"]["value"] == '"kubectl"'


def test_stepping_in_every_direction_with_state_at_each_stop(
    client: DapClient, scenario: Scenario
) -> None:
    start(client, scenario, startAt=5)
    assert position(client) == 5
    frames = client.request("stackTrace", {"threadId": 1})["stackFrames"]
    assert frames[1]["source"]["path"] == WIDGET_FILE and frames[1]["line"] == 42
    assert frames[-1]["name"] == "reconcile Widget default/w1 #1"
    changes = scope_variables(client, "Changes")
    assert changes["spec.replicas"]["value"] == "1 → 3"
    assert scope_variables(client, "Object")["spec"]["namedVariables"] >= 1
    assert step(client, "stepIn")["reason"] == "step" and position(client) == 6
    assert "get" in scope_variables(client, "Operation")["verb"]["value"]
    step(client, "next")  # same thread (worker-2): the status update
    assert position(client) == 7
    step(client, "next")
    assert position(client) == 9  # skips the informer's watch event
    step(client, "stepBack")
    assert position(client) == 7
    step(client, "stepOut")
    assert position(client) == 10  # already at the end of span 2: the end of span 3
    client.request("reverseContinue", {"threadId": 1})
    first = client.event("stopped")["body"]
    assert first["description"] == "start of recording" and position(client) == 1
    assert step(client, "stepBack")["description"] == "start of recording" and position(client) == 1
    client.request("continue", {"threadId": 1})
    last = client.event("stopped")["body"]
    assert (last["reason"], last["description"]) == ("step", "end of recording")
    assert position(client) == 30
    assert step(client, "stepIn")["description"] == "end of recording"
    assert client.process.poll() is None


def test_function_source_conditional_hit_count_and_logpoint(
    client: DapClient, scenario: Scenario
) -> None:
    start(client, scenario)
    bps = client.request("setFunctionBreakpoints", {"breakpoints": [{"name": "delete Pod/*"}]})
    assert bps["breakpoints"][0]["verified"]
    client.request("continue", {"threadId": 1})
    stopped = client.event("stopped")["body"]
    assert (
        stopped["reason"] == "function breakpoint"
        and position(client) == scenario.marks["delete_pod"]
    )
    assert stopped["hitBreakpointIds"] == [bps["breakpoints"][0]["id"]]
    client.request("setFunctionBreakpoints", {"breakpoints": [
        {"name": "update Widget", "condition": "object.status.lastSync == 't4'"}]})  # fmt: skip
    client.request("reverseContinue", {"threadId": 1})
    client.event("stopped")
    assert position(client) == scenario.marks["loop_update"] + 9
    client.request("setFunctionBreakpoints", {"breakpoints": []})
    listing = {"sourceReference": 1, "name": "listing"}
    client.request("setBreakpoints", {"source": listing, "breakpoints": [
        {"line": 3, "logMessage": "pod {name} by {actor}"}, {"line": 2, "hitCondition": "2"},
        {"line": 26}]})  # fmt: skip
    client.request("continue", {"threadId": 1})
    assert client.event("stopped")["body"]["reason"] == "breakpoint"
    assert position(client) == 26
    client.request(
        "setBreakpoints",
        {"source": listing, "breakpoints": [{"line": 3, "logMessage": "pod {name} by {actor}"}]},
    )
    client.request("reverseContinue", {"threadId": 1})
    client.event("stopped")
    outputs = [client.event("output")["body"]["output"] for _ in range(2)]
    assert "#3: pod web-abc by deployment-controller\n" in outputs
    assert any(text.startswith("kreplay: analysis found") for text in outputs)


def test_operator_source_breakpoint_through_path_mappings(
    client: DapClient, scenario: Scenario
) -> None:
    mappings = [{"localRoot": "/home/me/widget", "remoteRoot": "/app"}]
    start(client, scenario, pathMappings=mappings)
    local = "/home/me/widget/controllers/widget.py"
    answer = client.request(
        "setBreakpoints", {"source": {"path": local}, "breakpoints": [{"line": 57}, {"line": 5}]}
    )
    assert [b["verified"] for b in answer["breakpoints"]] == [True, False]
    client.request("continue", {"threadId": 1})
    client.event("stopped")
    assert position(client) == scenario.marks["loop_update"]
    frames = client.request("stackTrace", {"threadId": 1})["stackFrames"]
    assert frames[1]["source"]["path"] == local and frames[1]["line"] == 57


def test_exception_filters_and_exception_info(client: DapClient, scenario: Scenario) -> None:
    start(client, scenario, filters=["conflict", "server"], loopDetection={"enabled": False})
    client.request("continue", {"threadId": 1})
    stopped = client.event("stopped")["body"]
    assert stopped["reason"] == "exception" and position(client) == scenario.marks["conflict"]
    info = client.request("exceptionInfo", {"threadId": 1})
    assert info["exceptionId"] == "conflict" and info["details"]["typeName"] == "Conflict"
    client.request("continue", {"threadId": 1})
    client.event("stopped")
    assert position(client) == scenario.marks["server_error"]


def test_data_breakpoint_both_directions(client: DapClient, scenario: Scenario) -> None:
    start(client, scenario, startAt=scenario.marks["last"])
    spec = scope_variables(client, "Object")["spec"]
    info = client.request(
        "dataBreakpointInfo", {"variablesReference": spec["variablesReference"], "name": "replicas"}
    )
    assert info["dataId"] and "spec.replicas" in info["description"]
    client.request("setDataBreakpoints", {"breakpoints": [{"dataId": info["dataId"]}]})
    expected = [
        scenario.marks["scale_to_5"],
        scenario.marks["scale_to_3"],
        scenario.marks["create_web"],
    ]
    for seq in expected:
        client.request("reverseContinue", {"threadId": 1})
        assert client.event("stopped")["body"]["reason"] == "data breakpoint"
        assert position(client) == seq
    client.request("continue", {"threadId": 1})
    client.event("stopped")
    assert position(client) == scenario.marks["scale_to_3"]
    assert scope_variables(client, "Changes")["spec.replicas"]["value"] == "1 → 3"


def test_loop_is_reported_as_a_breakpoint_hit(client: DapClient, scenario: Scenario) -> None:
    start(client, scenario, filters=["loops"], loopDetection={"enabled": True, "minRepeats": 4})
    new = client.event("breakpoint")["body"]
    assert new["reason"] == "new" and new["breakpoint"]["message"].startswith(
        "reconcile loop: update Widget default/w1 repeated 6\u00d7 (period 3 ops"
    )
    client.request("continue", {"threadId": 1})
    stopped = client.event("stopped")["body"]
    assert stopped["reason"] == "breakpoint" and stopped["hitBreakpointIds"] == [
        new["breakpoint"]["id"]
    ]
    assert stopped["description"] == new["breakpoint"]["message"]
    assert position(client) == scenario.marks["loop_update"]
    findings = scope_variables(client, "Findings")
    assert findings["0"]["namedVariables"] >= 5


def evaluate(client: DapClient, expression: str, context: str = "watch") -> dict[str, Any]:
    return client.request("evaluate", {"expression": expression, "context": context, "frameId": 1})


def test_evaluate_repl_commands_and_completions(client: DapClient, scenario: Scenario) -> None:
    start(client, scenario, startAt=scenario.marks["scale_to_5"])
    assert evaluate(client, "object.spec.replicas")["result"] == "5"
    changes = evaluate(client, "changes")
    assert changes["indexedVariables"] >= 1
    spec = evaluate(client, 'cluster.Deployment["default/web"].spec', "hover")
    assert spec["variablesReference"] > 0
    assert evaluate(client, "verb == 'patch' and actor == 'kubectl'")["result"] == "true"
    assert evaluate(client, "goto 4", "repl")["result"] == "at #4"
    assert client.event("stopped")["body"]["reason"] == "goto" and position(client) == 4
    assert evaluate(client, "find verb=delete kind=Pod", "repl")["result"] == "at #27"
    client.event("stopped")
    bad = client.failing(
        "evaluate", {"expression": "__import__('os').system('x')", "context": "repl"}
    )
    assert "expression" in bad["message"]
    targets = client.request("completions", {"text": "object.me", "column": 10})["targets"]
    assert [t["label"] for t in targets] == ["metadata"]
    roots = client.request("completions", {"text": "", "column": 1})["targets"]
    assert "object" in {t["label"] for t in roots}


def test_goto_targets_restart_frame_and_restart(client: DapClient, scenario: Scenario) -> None:
    start(client, scenario)
    targets = client.request("gotoTargets", {"source": {"sourceReference": 1}, "line": 7})[
        "targets"
    ]
    client.request("goto", {"threadId": 1, "targetId": targets[0]["id"]})
    client.event("stopped")
    assert position(client) == 7
    frames = client.request("stackTrace", {"threadId": 1})["stackFrames"]
    client.request("restartFrame", {"frameId": frames[-1]["id"]})
    assert client.event("stopped")["body"]["reason"] == "restart" and position(client) == 6
    client.request("restart")
    assert client.event("stopped")["body"]["reason"] == "entry" and position(client) == 1


def test_malformed_input_is_answered_and_serving_continues(
    client: DapClient, scenario: Scenario
) -> None:
    client.send_raw(b"Content-Length: 9\r\n\r\n{not json")
    assert "not JSON" in client.event("output")["body"]["output"]
    client.send_raw(b"Content-Length: abc\r\n\r\n")
    assert "Content-Length" in client.event("output")["body"]["output"]
    client.send_raw(b"Content-Length: 2\r\n\r\n{}")
    assert "dropped" in client.event("output")["body"]["output"]
    deep = b"[" * 100_000 + b"]" * 100_000  # past the JSON parser's depth
    client.send_raw(b"Content-Length: %d\r\n\r\n%s" % (len(deep), deep))
    assert "nested too deeply" in client.event("output")["body"]["output"]
    client.send_raw(b'Content-Length: 30\r\n\r\n{"seq": 50, "type": "request"}')
    assert client.response(50)["success"] is False
    assert "unsupported" in client.failing("fly", {})["message"]
    assert "launch" in client.failing("stackTrace", {"threadId": 1})["message"]
    launch = client.failing("launch", {"database": str(scenario.path), "colour": "red"})
    assert "'colour'" in launch["message"]
    launch = client.failing("launch", {"database": str(scenario.path), "stopOnEntry": "yes"})
    assert "'stopOnEntry'" in launch["message"]
    missing = client.failing("launch", {"database": str(scenario.path), "session": "nope"})
    assert SESSION in missing["message"]
    live = client.failing("launch", {"database": str(scenario.path), "mode": "live"})
    assert "'mode'" in live["message"]
    assert start(client, scenario)["reason"] == "entry"
    assert "reference" in client.failing("variables", {"variablesReference": 999})["message"]
    assert "targetId" in client.failing("goto", {"threadId": 1, "targetId": "x"})["message"]
    client.request("disconnect")
    assert client.close() == 0


def test_huge_content_length_is_refused(client: DapClient) -> None:
    client.send_raw(b"Content-Length: 99999999999\r\n\r\n")
    assert "exceeds" in client.event("output")["body"]["output"]
    assert client.process.poll() is None  # up, dropping the body the client announced
    assert client.close() == 2  # the input ended inside that body


def test_closed_stdin_ends_cleanly(client: DapClient, scenario: Scenario) -> None:
    start(client, scenario)
    assert client.close() == 0


def test_every_message_was_schema_checked(
    client: DapClient, scenario: Scenario, checker: SchemaChecker | None
) -> None:
    if checker is None:
        pytest.skip("../shared/dap is absent: schema validation unavailable")
    start(client, scenario)
    assert client.checked >= 6
