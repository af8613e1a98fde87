"""initialize, launch, configurationDone, threads, restart, disconnect, terminate."""

from __future__ import annotations

import logging
from typing import Any

from kreplay_dap.dap import live_mode
from kreplay_dap.dap.capabilities import capabilities
from kreplay_dap.dap.dispatch import handler
from kreplay_dap.dap.handlers.breakpoints import start_analysis
from kreplay_dap.dap.launch import parse_launch
from kreplay_dap.dap.session import DebugSession
from kreplay_dap.replay.engine import EngineOptions, ReplayEngine, Stop, thread_name
from kreplay_dap.replay.loops import LoopOptions
from kreplay_dap.replay.queries import ScanControl
from recorder.errors import InvalidInputError, UnknownSessionError
from recorder.storage import open_recording
from recorder.storage.api import Recording

log = logging.getLogger(__name__)


@handler("initialize")
def initialize(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    for flag in ("linesStartAt1", "columnsStartAt1", "supportsProgressReporting"):
        if not isinstance(args.get(flag, False), bool):
            raise InvalidInputError(f"initialize: invalid argument {flag!r}: expected a boolean")
    session.client = dict(args)
    session.later(lambda: session.output.event("initialized"))
    return capabilities()


def _pick_session(recording: Recording, wanted: str | None) -> str:
    if wanted is not None:
        return recording.session(wanted).session_id
    infos = recording.sessions()
    if len(infos) == 1:
        return infos[0].session_id
    names = [info.session_id for info in infos]
    if not names:
        raise InvalidInputError(f"{recording.path}: the recording holds no sessions")
    raise UnknownSessionError("(none given)", names)


@handler("launch")
def launch(session: DebugSession, args: dict[str, Any]) -> None:
    config = parse_launch(args)
    session.config = config
    recording = open_recording(config.database)
    session.recording = recording
    session_id = _pick_session(recording, config.session)
    options = EngineOptions(
        slow_threshold_ms=config.slow_threshold_ms,
        loops=LoopOptions(
            enabled=config.loops_enabled,
            min_repeats=config.loop_min_repeats,
            full_analysis_max_ops=config.full_analysis_max_ops,
        ),
    )
    session.attach_engine(ReplayEngine(recording, session_id, options))
    if config.start_at is not None:
        session.engine.seek(max(config.start_at, session.engine.first_seq))
    if config.mode == "live":
        live_mode.start_live(session, config)


@handler("configurationDone")
def configuration_done(session: DebugSession, args: dict[str, Any]) -> None:
    """Start the analysis, then stop on entry or run from the first step (itself included),
    waiting for the analysis when the enabled filters need its breakpoints."""
    engine, config = session.engine, session.config
    if config is None:
        raise InvalidInputError("configurationDone: send 'launch' first")
    session.later(lambda: start_analysis(session))
    if config.stop_on_entry:
        session.later(lambda: session.report_stop(Stop(engine.position, "entry")))
        return

    def first_run(control: ScanControl) -> Stop:
        return engine.run(True, control, session.log_output, session.log_error, True)

    session.later(lambda: session.run_when_ready(first_run))


@handler("threads")
def threads(session: DebugSession, args: dict[str, Any]) -> dict[str, Any]:
    if session.has_engine:
        session.thread_id(session.engine.current())
    listed = [
        {"id": thread_id, "name": thread_name(actor, thread)}
        for (actor, thread), thread_id in session.threads.items()
    ]
    return {"threads": listed[:4096]}


@handler("restart")
def restart(session: DebugSession, args: dict[str, Any]) -> None:
    engine = session.engine
    engine.seek(engine.first_seq)  # hit counts belong to steps: nothing to reset
    session.later(lambda: session.report_stop(Stop(engine.position, "entry", "restarted")))


def _close(session: DebugSession) -> None:
    session.terminated = True
    live_mode.stop_live(session)
    if session.recording is not None:
        session.recording.close()
        session.recording = None


@handler("disconnect")
def disconnect(session: DebugSession, args: dict[str, Any]) -> None:
    _close(session)


@handler("terminate")
def terminate(session: DebugSession, args: dict[str, Any]) -> None:
    session.later(lambda: session.output.event("terminated"))
