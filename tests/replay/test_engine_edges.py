"""ReplayEngine at its edges: missing steps, failing conditions, the first step of a run,
thread boundaries, hit counts in both directions and call-site targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from kreplay_dap.replay.breakpoints import Breakpoint, configure, parse_function_pattern
from kreplay_dap.replay.engine import ReplayEngine
from kreplay_dap.replay.expr import compile_expression
from recorder.errors import InvalidInputError
from recorder.storage import Operation, RecordingWriter, SessionInfo, open_recording

from .scenario import WIDGET_FILE

LOOP_UPDATES = [7, 10, 13, 16, 19, 22]  # worker-2's status writes, from widget.py:57


def gap_recording(path: Path) -> Path:
    """Steps #1..#10 without #5."""
    ops = [
        Operation("gap", seq, seq, "get", kind="Pod", namespace="default", name=f"p{seq}")
        for seq in range(1, 11)
        if seq != 5
    ]
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("gap", started_ns=1))
        writer.append(ops)
        writer.end_session("gap")
    return path


def test_check_step_refuses_a_gap_and_steps_past_the_end(tmp_path: Path) -> None:
    recording = open_recording(str(gap_recording(tmp_path / "gap.db")))
    try:
        engine = ReplayEngine(recording, "gap")
        assert engine.check_step(4) == 4 and engine.has_step(6) and not engine.has_step(5)
        with pytest.raises(InvalidInputError, match=r"no operation #5 \(a gap\)"):
            engine.check_step(5)
        with pytest.raises(InvalidInputError, match=r"steps are #1\.\.#10"):
            engine.check_step(100_000)
    finally:
        recording.close()


def test_a_condition_failing_at_run_time_counts_as_false_and_is_reported(
    engine: ReplayEngine,
) -> None:
    bp = Breakpoint(1, "function", "get Widget", op_filter=parse_function_pattern("get Widget"))
    bp.condition = compile_expression("object.metadata in object")  # a dict is no dict key
    engine.set_breakpoints("function", [bp])
    errors: list[str] = []
    stop = engine.run(True, errors=lambda _bp, _seq, text: errors.append(text))
    assert stop.description == "end of recording"
    (error,) = errors  # once per breakpoint and run, not once per candidate
    assert (
        "condition failed at #6" in error and "TypeError" in error and "counted as false" in error
    )


def test_breakpoint_options_are_checked_when_set() -> None:
    cases = [
        ("foo == 1", None, None, "unknown name 'foo'"),
        ("seq >", None, None, "ends with an operator"),
        (7, None, None, "condition must be a string"),
        (None, "often", None, "hit condition"),
        (None, None, "pod {nme}", "unknown name 'nme'"),
    ]
    for condition, hit, message, error in cases:
        with pytest.raises(InvalidInputError, match=error):
            configure(Breakpoint(1, "source", "x"), condition, hit, message)
    good = Breakpoint(1, "source", "x")
    configure(good, "operation.verb == 'get'", ">=2", "{name} {op.verb}")
    assert good.condition is not None and good.hit_condition is not None


def test_a_run_may_start_with_the_current_step(engine: ReplayEngine) -> None:
    engine.set_breakpoints("listing", [Breakpoint(1, "source", "line 1", seqs=[1])])
    assert engine.run(True, include_current=True).seq == 1
    assert engine.run(True).description == "end of recording"
    engine.seek(5)
    engine.set_breakpoints("listing", [Breakpoint(2, "source", "line 5", seqs=[5])])
    assert engine.run(True, include_current=True).seq == 5
    assert engine.run(False, include_current=True).seq == 5


def test_thread_steps_stay_on_the_thread_at_its_edges(engine: ReplayEngine) -> None:
    engine.seek(26)  # kubectl/main: #1, #26, #29
    assert engine.step(True, "thread").seq == 29
    end = engine.step(True, "thread")
    assert (end.seq, end.description) == (29, "end of thread kubectl/main")
    back = engine.step(False, "thread")  # undoes the step that found the end
    assert (back.seq, back.description) == (29, "last step of thread kubectl/main")
    assert engine.step(False, "thread").seq == 26
    engine.seek(3)  # deployment-controller/sync starts here, after #1 and #2
    start = engine.step(False, "thread")
    assert (start.seq, start.description) == (3, "start of thread deployment-controller/sync")
    assert (
        engine.step(True, "thread").description == "first step of thread deployment-controller/sync"
    )
    assert engine.step(True, "thread").seq == 4
    engine.seek(1)  # both the thread's and the recording's first step
    assert engine.step(False, "thread").description == "start of recording"


def test_hit_numbers_belong_to_steps_whichever_way_the_run_goes(engine: ReplayEngine) -> None:
    listed = Breakpoint(1, "callsite", "widget.py:57", seqs=list(LOOP_UPDATES))
    configure(listed, None, "3", None)
    engine.set_breakpoints("callsite", [listed])
    assert engine.run(True).seq == 13  # the third hit
    assert engine.run(False).description == "start of recording"  # hits 2 and 1: no stop
    assert engine.run(True).seq == 13  # the third hit again
    engine.seek(30)
    assert engine.run(False).seq == 13  # found backwards too
    conditioned = Breakpoint(
        2, "function", "update Widget", op_filter=parse_function_pattern("update Widget")
    )
    # Its hits are #10, #13, #16, #19, #22 (#7 wrote lastSync t1); "%2": the 2nd and 4th.
    configure(conditioned, "object.status.lastSync != 't1'", "%2", None)
    engine.set_breakpoints("callsite", [conditioned])
    engine.seek(30)
    assert [engine.run(False).seq for _ in range(3)] == [19, 13, 1]  # then the start
    assert [engine.run(True).seq for _ in range(3)] == [13, 19, 30]  # then the end
    assert conditioned.counter is not None and list(conditioned.counter.hits) == [
        10,
        13,
        16,
        19,
        22,
    ]


def test_callsite_targets_start_after_the_current_step(engine: ReplayEngine) -> None:
    engine.seek(13)
    assert engine.callsite_targets(WIDGET_FILE, 57, 100) == [16, 19, 22, 7, 10, 13]
    assert engine.callsite_targets(WIDGET_FILE, 57, 2) == [16, 19]
    assert engine.callsite_targets(WIDGET_FILE, 1, 100) == []
