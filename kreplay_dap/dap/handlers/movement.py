"""continue, next, stepIn, stepOut, stepBack, reverseContinue, goto, restartFrame, pause."""

from __future__ import annotations

from typing import Any

from kreplay_dap.dap.dispatch import handler
from kreplay_dap.dap.present import listing_line
from kreplay_dap.dap.session import DebugSession
from kreplay_dap.replay.engine import Stop
from recorder.errors import InvalidInputError


def _thread_of(session: DebugSession, args: dict[str, Any]) -> tuple[str, str] | None:
    thread_id = args.get("threadId")
    if thread_id is not None and (not isinstance(thread_id, int) or isinstance(thread_id, bool)):
        raise InvalidInputError("'threadId' must be an integer")
    return None if thread_id is None else session.thread_key(thread_id)


def _step(session: DebugSession, args: dict[str, Any], forward: bool, mode: str) -> None:
    engine, thread = session.engine, _thread_of(session, args)
    session.later(lambda: session.run_and_stop(lambda c: engine.step(forward, mode, c, thread)))


def _run(session: DebugSession, forward: bool) -> dict[str, Any]:
    engine = session.engine
    session.later(
        lambda: session.run_and_stop(lambda c: engine.run(forward, c, session.log_output))
    )
    return {"allThreadsContinued": True}


@handler("continue")
def continue_(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    return _run(session, forward=True)


@handler("reverseContinue")
def reverse_continue(session: DebugSession, args: dict[str, Any]) -> None:
    _run(session, forward=False)


@handler("next")
def next_(session: DebugSession, args: dict[str, Any]) -> None:
    _step(session, args, True, "thread")


@handler("stepBack")
def step_back(session: DebugSession, args: dict[str, Any]) -> None:
    _step(session, args, False, "thread")


@handler("stepIn")
def step_in(session: DebugSession, args: dict[str, Any]) -> None:
    _step(session, args, True, "global")


@handler("stepOut")
def step_out(session: DebugSession, args: dict[str, Any]) -> None:
    _step(session, args, True, "span")


@handler("pause")
def pause(session: DebugSession, args: dict[str, Any]) -> None:
    session.control.cancelled = True  # also set by the reader thread while a search runs


def _goto_seq(session: DebugSession, seq: int, reason: str, description: str = "") -> None:
    session.engine.seek(seq)
    session.later(lambda: session.report_stop(Stop(session.engine.position, reason, description)))


@handler("gotoTargets")
def goto_targets(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    line = args.get("line")
    if not isinstance(line, int) or isinstance(line, bool):
        raise InvalidInputError("gotoTargets: 'line' must be an integer")
    seq = session.seq_of_line(line)
    op = session.engine.recording.operation(session.engine.session_id, seq)
    if op is None:
        return {"targets": []}
    return {"targets": [{"id": seq, "label": listing_line(op), "line": line}]}


@handler("goto")
def goto(session: DebugSession, args: dict[str, Any]) -> None:
    target = args.get("targetId")
    if not isinstance(target, int) or isinstance(target, bool):
        raise InvalidInputError("goto: 'targetId' must be an integer")
    _goto_seq(session, target, "goto")


@handler("restartFrame")
def restart_frame(session: DebugSession, args: dict[str, Any]) -> None:
    frame = session.frames.get(args.get("frameId", -1))
    if frame is None:
        raise InvalidInputError(
            "restartFrame: unknown 'frameId' (frames are valid until the next stop)"
        )
    start = frame.span_start
    if start is None:
        span = session.engine.span_of(session.engine.current())
        start = span.start_seq if span is not None else None
    if start is None:
        raise InvalidInputError("restartFrame: this operation is not part of a reconcile span")
    _goto_seq(session, start, "restart", "start of the reconcile")
