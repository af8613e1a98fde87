"""ReplayEngine over a real recording written by RecordingWriter."""

from __future__ import annotations

import pytest

from kreplay_dap.replay.breakpoints import (
    Breakpoint,
    DataWatch,
    exception_filter,
    parse_function_pattern,
    parse_hit_condition,
)
from kreplay_dap.replay.engine import ReplayEngine
from kreplay_dap.replay.expr import compile_expression
from kreplay_dap.replay.loops import LoopOptions, detect_loops, loop_label
from kreplay_dap.replay.queries import ScanControl
from recorder.errors import InvalidInputError
from recorder.storage import ObjectRef

from .scenario import SESSION, WIDGET_FILE, Scenario


def test_steps_globally_and_stops_at_both_edges(engine: ReplayEngine) -> None:
    assert engine.position == 1
    assert engine.step(forward=True).seq == 2
    assert engine.step(forward=False).seq == 1
    edge = engine.step(forward=False)
    assert (edge.seq, edge.reason, edge.description) == (1, "step", "start of recording")
    engine.seek(30)
    edge = engine.step(forward=True)
    assert (edge.seq, edge.description) == (30, "end of recording")


def test_next_follows_the_thread_and_step_out_ends_the_span(
    engine: ReplayEngine, scenario: Scenario
) -> None:
    engine.seek(scenario.marks["loop_update"] - 1)  # the get of span 2, worker-2
    assert engine.step(True, "thread").seq == 7
    assert engine.step(True, "thread").seq == 9  # skips the informer's watch event
    assert engine.step(False, "thread").seq == 7
    engine.seek(6)
    assert engine.step(True, "span").seq == 7
    assert engine.step(False, "span").seq == 6


def test_seek_outside_the_session_is_refused(engine: ReplayEngine) -> None:
    with pytest.raises(InvalidInputError):
        engine.seek(31)


def test_function_breakpoint_in_both_directions(engine: ReplayEngine, scenario: Scenario) -> None:
    bp = Breakpoint(
        engine.new_breakpoint_id(),
        "function",
        "patch Deployment",
        op_filter=parse_function_pattern("patch Deployment"),
    )
    engine.set_breakpoints("function", [bp])
    stop = engine.run(forward=True)
    assert (stop.seq, stop.reason, stop.breakpoint_ids) == (5, "function breakpoint", [bp.id])
    assert engine.run(forward=True).seq == scenario.marks["scale_to_5"]
    engine.seek(30)
    assert engine.run(forward=False).seq == scenario.marks["image_change"]


def test_condition_and_hit_count(engine: ReplayEngine, scenario: Scenario) -> None:
    bp = Breakpoint(
        engine.new_breakpoint_id(),
        "function",
        "update Widget",
        op_filter=parse_function_pattern("update Widget"),
        condition=compile_expression("object.status.lastSync == 't3'"),
    )
    engine.set_breakpoints("function", [bp])
    assert engine.run(True).seq == scenario.marks["loop_update"] + 6
    counted = Breakpoint(
        engine.new_breakpoint_id(),
        "function",
        "update Widget",
        op_filter=parse_function_pattern("Widget/w1"),
        hit_condition=parse_hit_condition(">=4"),
    )
    engine.seek(1)
    engine.set_breakpoints("function", [counted])
    assert engine.run(True).seq == 9


def test_exception_filter_and_logpoint(engine: ReplayEngine, scenario: Scenario) -> None:
    conflict = exception_filter("conflict", 1000)
    logs: list[str] = []
    engine.set_breakpoints("exception", [Breakpoint(1, "exception", "409", op_filter=conflict)])
    log = Breakpoint(2, "source", "log", seqs=[3], log_message="pod {name} by {actor}")
    engine.set_breakpoints("listing", [log])
    stop = engine.run(True, log=lambda bp, seq, text: logs.append(text))
    assert (stop.seq, stop.reason) == (scenario.marks["conflict"], "exception")
    assert logs == ["pod web-abc by deployment-controller"]


def test_data_breakpoint_finds_who_changed_replicas(
    engine: ReplayEngine, scenario: Scenario
) -> None:
    watch = DataWatch(ObjectRef("Deployment", "default", "web"), ("spec", "replicas"))
    engine.set_breakpoints("data", [Breakpoint(9, "data", "replicas", watch=watch)])
    assert engine.run(True).seq == scenario.marks["scale_to_3"]
    assert engine.run(True).seq == scenario.marks["scale_to_5"]
    assert engine.run(True).description == "end of recording"
    assert engine.run(False).seq == scenario.marks["scale_to_5"]
    assert engine.run(False).seq == scenario.marks["scale_to_3"]
    assert engine.run(False).seq == scenario.marks["create_web"]


def test_changes_and_cluster_state(engine: ReplayEngine, scenario: Scenario) -> None:
    op = engine.seek(scenario.marks["scale_to_5"])
    _, changes = engine.history.changes(op)
    paths = {c.path_text: (c.old, c.new) for c in changes}
    assert paths["spec.replicas"] == (3, 5)
    grouped = engine.cluster.at(scenario.marks["create_pod"])
    assert [r.name for r in grouped["Pod"]["default"]] == ["web-abc"]
    assert "Pod" not in engine.cluster.at(scenario.marks["delete_pod"])
    assert engine.evaluate('cluster.Deployment["default/web"].spec.replicas') == 5


def test_callsite_seqs_and_find(engine: ReplayEngine) -> None:
    assert engine.queries.callsite_seqs(WIDGET_FILE, 42)[:2] == [5, 6]
    assert engine.find("verb=delete kind=Pod") == 27
    assert engine.find("code=409") == 24


def test_builtin_loop_detector(engine: ReplayEngine) -> None:
    (loop,) = detect_loops(engine.recording, SESSION, LoopOptions(min_repeats=4))
    assert loop.type == "loop" and loop.objects == ["Widget/default/w1"]
    assert loop.count == 6 and loop.evidence[0] == 7
    label = loop_label(engine.recording, SESSION, loop)
    assert label == "reconcile loop: update Widget default/w1 repeated 6\u00d7 (period 3 ops, 1 s)"


def test_engine_findings_include_the_loop(engine: ReplayEngine) -> None:
    loops = [f for f in engine.findings() if f.type == "loop"]
    assert [f.objects for f in loops] == [["Widget/default/w1"]]
    assert engine.findings_at(10) and not engine.findings_at(2)


def test_cancelled_run_stops_with_pause(engine: ReplayEngine) -> None:
    control = ScanControl()
    control.cancelled = True
    engine.set_breakpoints(
        "function", [Breakpoint(1, "function", "x", op_filter=parse_function_pattern("get"))]
    )
    assert engine.run(True, control).reason == "pause"


def test_step_out_at_a_span_edge_goes_to_the_next_span_edge_on_the_thread(
    engine: ReplayEngine, scenario: Scenario
) -> None:
    # worker-2 runs spans 2..7, three operations each (get, update, and the informer's
    # watch event in between on another thread): span k holds seqs 6+3(k-2) and 7+3(k-2).
    engine.seek(7)  # the last operation of span 2
    assert engine.step(True, "span").seq == 10  # the end of span 3, not seq 8
    assert engine.step(True, "span").seq == 13
    engine.seek(9)  # the first operation of span 3
    assert engine.step(False, "span").seq == 6  # the start of span 2, not seq 8
    engine.seek(scenario.marks["scale_to_3"])  # worker-1's only span, last op of it
    assert engine.step(True, "span").seq == scenario.marks["forbidden"]  # next op of worker-1
    engine.seek(6 + 3 * 5 + 1)  # the end of span 7, worker-2's last span and operation
    stop = engine.step(True, "span")  # stays there: the thread has nothing further
    assert (stop.seq, stop.description) == (22, "end of thread widget-operator/worker-2")
