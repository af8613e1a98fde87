"""``mode: "live"`` launches: the adapter side of live replay.

The run itself is ``kreplay_dap.live.LiveRun`` on a background thread. This module only
translates: it asks the client to open a child Python session attached to the operator's
debugpy (the ``startDebugging`` reverse request, or printed attach steps when the client
cannot), mirrors the operator's position, and turns each divergence into a stop with
reason ``exception`` whose ``exceptionInfo`` carries the field-level diff.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from kreplay_dap.dap.launch import LaunchConfig
from kreplay_dap.dap.session import DebugSession
from kreplay_dap.live.launch import OperatorCommand
from kreplay_dap.live.report import Divergence, LiveSummary
from kreplay_dap.live.runner import LiveHooks, LiveOptions, LiveRun
from kreplay_dap.replay.engine import Stop
from recorder.errors import InvalidInputError, KreplayError

log = logging.getLogger(__name__)

DIVERGENCE_EXCEPTION_ID = "live-divergence"
MAX_DIFF_LINES = 50
STOP_WAIT_SECONDS = 15.0  # the operator gets SIGTERM, then SIGKILL after a grace period


def _options(session: DebugSession, config: LaunchConfig) -> LiveOptions:
    raw = config.raw
    if not config.program:
        raise InvalidInputError("launch argument 'program' is required when 'mode' is 'live'")
    interpreter = str(raw.get("python") or sys.executable)
    arguments = [str(item) for item in raw.get("args", [])]
    return LiveOptions(
        database=config.database, session_id=session.engine.session_id,
        command=[interpreter, config.program, *arguments], from_step=config.start_at or 0,
        debug=True, ignore_paths=tuple(str(p) for p in raw.get("ignorePaths", [])),
        idle_seconds=None, timeout_seconds=float(raw.get("liveTimeoutSeconds", 3600)),
        forward_output=lambda text, category: _forward(session, text, category),
    )  # fmt: skip


def _forward(session: DebugSession, text: str, category: str) -> None:
    """The operator's output, as output events: the adapter's stdout is the protocol."""
    post = session.post
    if post is not None:
        post(lambda: _console(session, text, category))


def start_live(session: DebugSession, config: LaunchConfig) -> None:
    """Start the live run; every hook hands its work to the adapter's main loop."""
    post = session.post
    if post is None:
        raise InvalidInputError("live mode needs the adapter's main loop")
    hooks = LiveHooks(
        on_started=lambda command, _: post(lambda: _attach_child(session, command)),
        on_divergence=lambda divergence: post(lambda: _stop_at(session, divergence)),
        on_step=lambda seq: post(lambda: _follow(session, seq)),
    )
    run = LiveRun(_options(session, config), hooks)
    session.live = run
    supervisor = threading.Thread(
        target=_run, args=(run, post, session), name="kreplay-live", daemon=True
    )
    session.live_thread = supervisor
    supervisor.start()


def _run(run: LiveRun, post: Callable[[Callable[[], None]], None], session: DebugSession) -> None:
    try:
        summary = run.run()
    except KreplayError as error:
        text = f"kreplay live: {error}\n"  # bound now: the name is cleared after except
        post(lambda: _console(session, text, "stderr"))
        return
    post(lambda: _finished(session, summary))


def _attach_child(session: DebugSession, command: OperatorCommand) -> None:
    attach = command.attach_configuration(os.getcwd())
    if session.client.get("supportsStartDebuggingRequest"):
        session.output.send(
            {"type": "request", "command": "startDebugging",
             "arguments": {"request": "attach", "configuration": attach}}
        )  # fmt: skip
        return
    _console(
        session,
        "kreplay live: the operator waits for a Python debugger. Attach one with this "
        f"configuration (e.g. a debugpy 'attach' entry in launch.json):\n"
        f"{json.dumps(attach, indent=2)}\n",
    )


def _follow(session: DebugSession, seq: int) -> None:
    session.live_position = seq
    _console(session, f"kreplay live: the operator reached step #{seq}\n")


def _stop_at(session: DebugSession, divergence: Divergence) -> None:
    engine = session.engine
    seq = divergence.step if divergence.step is not None else session.live_position
    if seq is not None:
        engine.seek(max(engine.first_seq, min(seq, engine.last_seq)))
    session.live_divergence = divergence
    _console(session, f"kreplay live: DIVERGENCE {divergence.message}\n", "stderr")
    description = f"live divergence: {divergence.message}"
    session.report_stop(Stop(engine.position, "exception", description))


def divergence_info(divergence: Divergence) -> dict[str, Any]:
    """The ``exceptionInfo`` body of a divergence stop."""
    lines = [
        f"{d.path}: recorded {json.dumps(d.recorded)} -> live {json.dumps(d.live)}"
        for d in divergence.differences[:MAX_DIFF_LINES]
    ]
    return {
        "exceptionId": DIVERGENCE_EXCEPTION_ID,
        "description": divergence.message,
        "breakMode": "always",
        "details": {
            "message": divergence.message,
            "typeName": divergence.kind,
            "stackTrace": "\n".join(lines) or divergence.message,
        },
    }


def _finished(session: DebugSession, summary: LiveSummary) -> None:
    verdict = "no divergence" if summary.clean else f"{len(summary.divergences)} divergence(s)"
    _console(
        session,
        f"kreplay live: the run ended ({len(summary.matched)} matched step(s), {verdict}, "
        f"{len(summary.unconsumed)} recorded write(s) not made)\n",
    )


def _console(session: DebugSession, text: str, category: str = "console") -> None:
    session.output.event("output", {"category": category, "output": text})


def stop_live(session: DebugSession) -> None:
    """Cancel the run and wait (bounded) until the operator's processes have ended."""
    run = session.live
    if isinstance(run, LiveRun):
        run.cancel()
    supervisor = session.live_thread
    if isinstance(supervisor, threading.Thread) and supervisor is not threading.current_thread():
        supervisor.join(STOP_WAIT_SECONDS)
        if supervisor.is_alive():
            log.warning("the live run did not end within %s s", STOP_WAIT_SECONDS)
    if isinstance(run, LiveRun):
        run.kill()  # whatever state the run's thread is in, nothing outlives the adapter
