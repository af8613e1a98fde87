"""The adapter's session in process: bad breakpoints, failing deferred work, the analysis a
run waits for, goto targets, line/column numbering and argument errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kreplay_dap.replay.engine import ReplayEngine
from recorder.storage import Operation, RecordingWriter, SessionInfo
from tests.replay.scenario import WIDGET_FILE, Scenario

from .client import LOOPS, NO_LOOPS
from .inprocess import InProcess

LISTING = {"sourceReference": 1, "name": "listing"}


@pytest.fixture
def adapter() -> Iterator[InProcess]:
    driver = InProcess()
    yield driver
    driver.close()


@pytest.fixture
def main_loop() -> Iterator[InProcess]:
    driver = InProcess(main_loop=True)
    yield driver
    driver.close()


def gap_path(tmp_path: Path) -> str:
    """Steps #1..#10 without #5."""
    path = tmp_path / "gap.db"
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("gap", started_ns=1))
        writer.append([Operation("gap", s, s, "get", kind="Pod", name=f"p{s}")
                       for s in range(1, 11) if s != 5])  # fmt: skip
        writer.end_session("gap")
    return str(path)


def go(adapter: InProcess, command: str, **arguments: Any) -> dict[str, Any]:
    adapter.request(command, {"threadId": 1, **arguments})
    return adapter.stopped()


def test_listing_breakpoints_on_missing_steps_are_unverified(
    adapter: InProcess, tmp_path: Path
) -> None:
    adapter.start(gap_path(tmp_path), **NO_LOOPS)
    adapter.stopped()
    lines = [{"line": 5}, {"line": 100_000}, {"line": 7}]
    answer = adapter.request("setBreakpoints", {"source": LISTING, "breakpoints": lines})
    gap, past, good = answer["breakpoints"]
    assert not gap["verified"] and "no operation #5 (a gap)" in gap["message"]
    assert not past["verified"] and "steps are #1..#10" in past["message"]
    assert good["verified"] and good["line"] == 7
    assert go(adapter, "continue")["reason"] == "breakpoint" and adapter.position() == 7
    assert go(adapter, "continue")["description"] == "end of recording"


def test_conditions_are_checked_when_set_and_fail_safely_when_run(
    adapter: InProcess, scenario: Scenario
) -> None:
    adapter.start(str(scenario.path), **NO_LOOPS)
    adapter.stopped()
    source = {"path": WIDGET_FILE}
    unknown = [{"line": 57, "condition": "foo == 1"}]
    (answer,) = adapter.request("setBreakpoints", {"source": source, "breakpoints": unknown})[
        "breakpoints"
    ]
    assert not answer["verified"] and "unknown name 'foo'" in answer["message"]
    failing = [{"line": 57, "condition": "object.metadata in object"},
               {"line": 42, "logMessage": "{object.metadata in object}"}]  # fmt: skip
    answers = adapter.request("setBreakpoints", {"source": source, "breakpoints": failing})
    assert all(b["verified"] for b in answers["breakpoints"])
    assert go(adapter, "continue")["description"] == "end of recording"
    (error,) = adapter.outputs("stderr")
    assert "condition failed at #7" in error and "counted as false" in error
    logged = [text for text in adapter.outputs("console") if text.startswith("#")]
    assert logged[0].startswith("#5: <expression") and "cannot evaluate" in logged[0]
    assert adapter.request("threads")["threads"]  # still serving


def test_one_bad_breakpoint_leaves_the_rest_of_its_request_applied(
    adapter: InProcess, scenario: Scenario
) -> None:
    adapter.start(str(scenario.path), **NO_LOOPS)
    adapter.stopped()
    adapter.request("setBreakpoints", {"source": LISTING, "breakpoints": [{"line": 20}]})
    specs = [{"line": 26}, {"line": 28, "condition": "seq >"}, {"line": "5"},
             {"line": 29, "hitCondition": "often"}]  # fmt: skip
    answers = adapter.request("setBreakpoints", {"source": LISTING, "breakpoints": specs})
    assert [b["verified"] for b in answers["breakpoints"]] == [True, False, False, False]
    assert "ends with an operator" in answers["breakpoints"][1]["message"]
    assert "integer 'line'" in answers["breakpoints"][2]["message"]
    assert go(adapter, "continue")["reason"] == "breakpoint" and adapter.position() == 26
    functions = [{"name": "patch Deployment"}, {"name": "get a b"}, {"name": 5}]
    answers = adapter.request("setFunctionBreakpoints", {"breakpoints": functions})
    assert [b["verified"] for b in answers["breakpoints"]] == [True, False, False]
    assert "expected '[verb] target'" in answers["breakpoints"][1]["message"]
    adapter.request("setBreakpoints", {"source": LISTING, "breakpoints": []})
    assert go(adapter, "continue")["reason"] == "function breakpoint"
    assert adapter.position() == 29
    data = adapter.request("setDataBreakpoints", {"breakpoints": [{"dataId": "nope"}]})
    assert data["breakpoints"][0]["verified"] is False


def test_exception_breakpoints_answer_every_filter_in_order(
    adapter: InProcess, scenario: Scenario
) -> None:
    adapter.start(str(scenario.path), **NO_LOOPS)
    adapter.stopped()
    filters = ["conflict", "loops", "nope", "errors", "races"]
    answers = adapter.request("setExceptionBreakpoints", {"filters": filters})["breakpoints"]
    assert [b["verified"] for b in answers] == [True, False, False, True, False]
    assert "analysis is off" in answers[1]["message"] and "'nope'" in answers[2]["message"]
    assert go(adapter, "continue")["reason"] == "exception" and adapter.position() == 4
    assert adapter.session.exception_filters == ["conflict", "errors"]


def test_a_failing_movement_stops_with_the_error_and_the_adapter_goes_on(
    adapter: InProcess, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter.start(str(scenario.path), **NO_LOOPS)
    adapter.stopped()
    go(adapter, "stepIn")

    def corrupt(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(ReplayEngine, "run", corrupt)
    stopped = go(adapter, "continue")
    assert (stopped["reason"], stopped["description"]) == ("exception", "replay error")
    assert "malformed" in stopped["text"] and adapter.position() == 2
    (error,) = adapter.outputs("stderr")
    assert error.startswith("kreplay: continue: the recording cannot be read")
    info = adapter.request("exceptionInfo", {"threadId": 1})
    assert info["exceptionId"] == "kreplay-error" and "malformed" in info["description"]
    monkeypatch.undo()
    assert go(adapter, "stepIn")["reason"] == "step" and adapter.position() == 3


def test_a_recording_that_cannot_be_read_at_all_ends_the_session(
    adapter: InProcess, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter.start(str(scenario.path), **NO_LOOPS)
    adapter.stopped()

    def unreadable(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.DatabaseError("file is not a database")

    monkeypatch.setattr(ReplayEngine, "operation", unreadable)
    adapter.request("stepIn", {"threadId": 1})
    assert adapter.take("terminated") is not None and adapter.take("stopped") is None
    assert any("the session ends" in text for text in adapter.outputs("stderr"))
    monkeypatch.undo()
    assert adapter.request("threads")["threads"]


def loop_start(main_loop: InProcess, scenario: Scenario, **launch: Any) -> None:
    main_loop.start(str(scenario.path), filters=["loops"], **LOOPS, **launch)
    assert main_loop.session.analysis_running  # the analysis thread has started


def run_posted_until_stopped(main_loop: InProcess) -> dict[str, Any]:
    for _ in range(10):
        main_loop.run_posted()
        stopped = main_loop.take("stopped")
        if stopped is not None:
            return stopped
    raise AssertionError("no stop")


def test_a_continue_right_after_entry_waits_for_the_loop_breakpoints(
    main_loop: InProcess, scenario: Scenario
) -> None:
    loop_start(main_loop, scenario)
    assert main_loop.stopped()["reason"] == "entry"
    main_loop.request("continue", {"threadId": 1})
    assert main_loop.take("stopped") is None  # waiting for the analysis
    assert any("waiting for the analysis (loops)" in t for t in main_loop.outputs())
    stopped = run_posted_until_stopped(main_loop)
    assert stopped["reason"] == "breakpoint" and stopped["description"].startswith(
        "reconcile loop: update Widget default/w1"
    )
    assert main_loop.position() == scenario.marks["loop_update"]


def test_without_stop_on_entry_the_first_run_waits_for_the_loop_breakpoints(
    main_loop: InProcess, scenario: Scenario
) -> None:
    loop_start(main_loop, scenario, stopOnEntry=False)
    assert main_loop.take("stopped") is None
    assert run_posted_until_stopped(main_loop)["reason"] == "breakpoint"
    assert main_loop.position() == scenario.marks["loop_update"]


def test_the_wait_for_the_analysis_is_bounded_and_pause_ends_it(
    main_loop: InProcess, scenario: Scenario
) -> None:
    loop_start(main_loop, scenario)
    main_loop.stopped()
    main_loop.request("continue", {"threadId": 1})
    main_loop.session.analysis_wait_over(main_loop.session._wait_token)  # as the timer does
    main_loop.collect()
    assert main_loop.stopped()["description"] == "end of recording"
    assert any("still running after 30 s" in t for t in main_loop.outputs())
    main_loop.request("reverseContinue", {"threadId": 1})
    main_loop.request("pause", {"threadId": 1})
    assert main_loop.stopped()["reason"] == "pause" and main_loop.position() == 30


def test_the_first_run_checks_the_first_step_and_the_start_at_step(
    adapter: InProcess, scenario: Scenario
) -> None:
    adapter.request("initialize", {"adapterID": "kreplay"})
    adapter.request("launch", {"database": str(scenario.path), "stopOnEntry": False, **NO_LOOPS})
    adapter.request("setBreakpoints", {"source": LISTING, "breakpoints": [{"line": 1}]})
    adapter.request("configurationDone")
    assert adapter.stopped()["reason"] == "breakpoint" and adapter.position() == 1
    other = InProcess()
    try:
        other.request("initialize", {"adapterID": "kreplay"})
        launch = {"database": str(scenario.path), "stopOnEntry": False, "startAt": 4}
        other.request("launch", {**launch, **NO_LOOPS})
        other.request("setExceptionBreakpoints", {"filters": ["errors"]})
        other.request("configurationDone")
        assert other.stopped()["reason"] == "exception" and other.position() == 4
    finally:
        other.close()


def test_goto_targets_follow_the_source_asked_about(adapter: InProcess, scenario: Scenario) -> None:
    adapter.start(str(scenario.path), **NO_LOOPS)
    adapter.stopped()
    listing = adapter.request("gotoTargets", {"source": LISTING, "line": 7})["targets"]
    assert [(t["id"], t["line"]) for t in listing] == [(7, 7)]
    code = {"path": WIDGET_FILE, "name": "widget.py"}
    calls = adapter.request("gotoTargets", {"source": code, "line": 57})["targets"]
    assert [t["id"] for t in calls] == [7, 10, 13, 16, 19, 22] and calls[0]["line"] == 57
    assert calls[0]["label"].startswith("#7 UPDATE example.com/v1 Widget default/w1")
    for source, line in (({"path": WIDGET_FILE}, 1), ({"path": "/etc/passwd"}, 3)):
        assert adapter.request("gotoTargets", {"source": source, "line": line})["targets"] == []
    assert adapter.request("gotoTargets", {"source": LISTING, "line": 31})["targets"] == []


def test_thread_steps_report_the_thread_edge_and_undo_each_other(
    adapter: InProcess, scenario: Scenario
) -> None:
    adapter.start(str(scenario.path), startAt=29, **NO_LOOPS)  # kubectl/main's last step
    thread = adapter.stopped()["threadId"]
    end = go(adapter, "next", threadId=thread)
    assert end["description"] == "end of thread kubectl/main" and end["threadId"] == thread
    assert adapter.position() == 29
    assert go(adapter, "stepBack", threadId=thread)["description"] == (
        "last step of thread kubectl/main"
    )
    assert adapter.position() == 29
    go(adapter, "stepBack", threadId=thread)
    assert adapter.position() == 26


def test_lines_and_columns_follow_the_client_numbering(
    adapter: InProcess, scenario: Scenario
) -> None:
    adapter.start(str(scenario.path), startAt=5, **NO_LOOPS)
    adapter.stopped()
    targets = adapter.request("completions", {"text": "object.st", "column": 10})["targets"]
    assert [(t["label"], t["start"], t["length"]) for t in targets] == [("status", 8, 2)]
    zero = InProcess()
    try:
        numbering = {"linesStartAt1": False, "columnsStartAt1": False}
        zero.start(str(scenario.path), initialize=numbering, startAt=5, **NO_LOOPS)
        zero.stopped()
        targets = zero.request("completions", {"text": "x\nobject.st", "column": 9, "line": 1})
        assert [(t["label"], t["start"]) for t in targets["targets"]] == [("status", 7)]
        frames = zero.request("stackTrace", {"threadId": 1})["stackFrames"]
        assert (frames[0]["line"], frames[0]["column"]) == (4, 0)  # step #5, listing line 5
        assert (frames[1]["line"], frames[1]["source"]["path"]) == (41, WIDGET_FILE)
        answer = zero.request("setBreakpoints", {"source": LISTING, "breakpoints": [{"line": 6}]})
        assert answer["breakpoints"][0]["line"] == 6
        assert go(zero, "continue")["reason"] == "breakpoint" and zero.position() == 7
        assert zero.request("gotoTargets", {"source": LISTING, "line": 0})["targets"][0]["id"] == 1
    finally:
        zero.close()


def test_arguments_of_the_wrong_type_are_invalid_arguments(
    adapter: InProcess, scenario: Scenario
) -> None:
    adapter.start(str(scenario.path), **NO_LOOPS)
    adapter.stopped()
    frames = adapter.request("stackTrace", {"threadId": 1})["stackFrames"]
    scopes = adapter.request("scopes", {"frameId": frames[0]["id"]})["scopes"]
    reference = scopes[1]["variablesReference"]
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("stackTrace", {"threadId": 1, "levels": "all"}, "'levels'"),
        ("stackTrace", {"threadId": 1, "startFrame": 1e300}, "'startFrame'"),
        ("variables", {"variablesReference": reference, "start": "x"}, "'start'"),
        ("variables", {"variablesReference": reference, "count": -5}, "'count'"),
        ("variables", {"variablesReference": "1"}, "'variablesReference'"),
        ("scopes", {"frameId": "a"}, "'frameId'"),
        ("completions", {"text": "object.", "column": "8"}, "'column'"),
        ("gotoTargets", {"source": {}, "line": None}, "'line'"),
        ("restartFrame", {"frameId": [1]}, "'frameId'"),
        ("next", {"threadId": "1"}, "'threadId'"),
    ]
    for command, arguments, name in cases:
        message = adapter.failing(command, arguments)
        assert "invalid argument" in message or "is required" in message, message
        assert name in message and "internal error" not in message
