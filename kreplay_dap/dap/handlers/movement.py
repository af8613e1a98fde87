"""continue, next, stepIn, stepOut, stepBack, reverseContinue, goto, restartFrame, pause."""

from __future__ import annotations

from typing import Any

from kreplay_dap.dap.arguments import int_argument, object_argument
from kreplay_dap.dap.dispatch import handler
from kreplay_dap.dap.present import listing_line
from kreplay_dap.dap.session import LISTING_REFERENCE, DebugSession
from kreplay_dap.replay.engine import Stop
from kreplay_dap.replay.queries import ScanControl
from recorder.errors import InvalidInputError

MAX_GOTO_TARGETS = 100


def _thread_of(session: DebugSession, args: dict[str, Any]) -> tuple[str, str] | None:
    if args.get("threadId") is None:
        return None
    return session.thread_key(int_argument(args, "threadId", "step", minimum=None))


def _step(session: DebugSession, args: dict[str, Any], forward: bool, mode: str) -> None:
    engine, thread = session.engine, _thread_of(session, args)
    session.later(lambda: session.run_and_stop(lambda c: engine.step(forward, mode, c, thread)))


def _run(session: DebugSession, forward: bool) -> dict[str, Any]:
    engine = session.engine

    def movement(control: ScanControl) -> Stop:
        return engine.run(forward, control, session.log_output, session.log_error)

    session.later(lambda: session.run_when_ready(movement))
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
    session.pause()  # the reader thread also cancels a search while it runs


def _goto_seq(session: DebugSession, seq: int, reason: str, description: str = "") -> None:
    session.engine.seek(seq)
    session.later(lambda: session.report_stop(Stop(session.engine.position, reason, description)))


@handler("gotoTargets")
def goto_targets(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    """The listing's line N: step #N when it exists. A line of an operator's file: the
    steps whose call was made from that line. Any other source: none."""
    source = object_argument(args, "source", "gotoTargets")
    line = int_argument(args, "line", "gotoTargets", None, session.line_base)
    engine, adapter_line = session.engine, session.adapter_line(line)
    seqs: list[int] = []
    if source.get("sourceReference") == LISTING_REFERENCE:
        seq = session.seq_of_line(adapter_line)
        seqs = [seq] if engine.has_step(seq) else []
    elif isinstance(source.get("path"), str) and not source.get("sourceReference"):
        remote = session.remote_path(source["path"])
        seqs = engine.callsite_targets(remote, adapter_line, MAX_GOTO_TARGETS)
    return {"targets": [{"id": seq, "label": listing_line(engine.operation(seq)), "line": line}
                        for seq in seqs]}  # fmt: skip


@handler("goto")
def goto(session: DebugSession, args: dict[str, Any]) -> None:
    _goto_seq(session, int_argument(args, "targetId", "goto", None, None), "goto")


@handler("restartFrame")
def restart_frame(session: DebugSession, args: dict[str, Any]) -> None:
    frame = session.frames.get(int_argument(args, "frameId", "restartFrame", None, None))
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
