"""Per-connection adapter state: the engine, threads, frames and handles of the current stop.

Handlers translate between DAP and this object; the replay logic lives in ReplayEngine.

Work that reports a stop runs as a deferred action: after the response (``later``), or on
the main loop when background work posts it (``post``). ``run_action`` is the one boundary
for all of them: a failure becomes an error output event and then the stop the client is
waiting for (reason ``exception``, at the last step the client was shown), or, when not
even that step can be read, a ``terminated`` event. The adapter itself stays up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kreplay_dap.dap.dispatch import Output, describe_error
from kreplay_dap.dap.launch import LaunchConfig
from kreplay_dap.dap.listing import Listing
from kreplay_dap.dap.variables import Handles
from kreplay_dap.replay.breakpoints import Breakpoint
from kreplay_dap.replay.engine import ReplayEngine, Stop
from kreplay_dap.replay.queries import ScanControl
from recorder.errors import InvalidInputError
from recorder.storage.api import Recording
from recorder.storage.model import Operation

log = logging.getLogger(__name__)

LISTING_REFERENCE = 1
# Exception filters whose breakpoints come from the background analysis, and how long a
# Continue waits for that analysis before it runs without them.
ANALYSIS_FILTERS = frozenset({"loops", "races"})
ANALYSIS_WAIT_S = 30.0

Movement = Callable[[ScanControl], Stop]


@dataclass(slots=True)
class Frame:
    kind: str  # operation | callsite | span
    seq: int
    span_start: int | None = None


class DebugSession:
    """State of one debug session over one connection."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self.client: dict[str, Any] = {}
        self.config: LaunchConfig | None = None
        self.recording: Recording | None = None
        self._engine: ReplayEngine | None = None
        self.handles = Handles()
        self.frames: dict[int, Frame] = {}
        self.threads: dict[tuple[str, str], int] = {}
        self.last_stop: Stop | None = None
        self.control = ScanControl()
        self.pending: list[Callable[[], None]] = []
        self.terminated = False
        self.exception_filters: list[str] = []
        self.loop_breakpoints: list[Breakpoint] = []
        self._progress_id = 0
        # Set by the server: queue an action for the main loop (used by background work).
        self.post: Callable[[Callable[[], None]], None] | None = None
        # Live mode (kreplay_dap.dap.live_mode): the run, where it is, its last divergence.
        self.live: Any = None
        self.live_thread: Any = None
        self.live_position: int | None = None
        self.live_divergence: Any = None
        self._listing: Listing | None = None
        # A stopped event is owed to the client (a movement or stop is under way), and the
        # last step the client was shown: where a failed one stops instead.
        self._stop_owed = False
        self._shown: int | None = None
        # The background analysis, and a run waiting for it (see ``run_when_ready``).
        self.analysis_running = False
        self._waiting: Movement | None = None
        self._wait_token = 0
        self._wait_timer: threading.Timer | None = None

    @property
    def engine(self) -> ReplayEngine:
        if self._engine is None:
            raise InvalidInputError("no recording is loaded yet: send 'launch' first")
        return self._engine

    @property
    def has_engine(self) -> bool:
        return self._engine is not None

    def attach_engine(self, engine: ReplayEngine) -> None:
        self._engine = engine
        if self._listing is not None:  # a restart: the listing is rebuilt on demand
            self._listing.close()
            self._listing = None

    def later(self, action: Callable[[], None]) -> None:
        """Run ``action`` after the current response is sent (events follow responses)."""
        self.pending.append(action)

    def after_response(self, command: str) -> None:
        actions, self.pending = self.pending, []
        for action in actions:
            self.run_action(action, command)

    def run_action(self, action: Callable[[], None], what: str) -> None:
        """Run one deferred action; its errors end here (see the module docstring)."""
        try:
            action()
        except Exception as error:  # a deferred action must never take the adapter down
            log.exception("deferred action after %s failed", what)
            self._action_failed(what, describe_error(error))

    def _action_failed(self, what: str, text: str) -> None:
        self.output.event("output", {"category": "stderr", "output": f"kreplay: {what}: {text}\n"})
        if not self._stop_owed:
            return
        self._stop_owed = False
        try:
            engine = self.engine
            engine.return_to(engine.first_seq if self._shown is None else self._shown)
            self.report_stop(Stop(self.engine.position, "exception", "replay error", error=text))
        except Exception as error:  # not even the previous step can be read any more
            log.exception("cannot stop after the failure of %s", what)
            self._stop_owed = False
            ended = f"kreplay: cannot show any step ({describe_error(error)}); the session ends\n"
            self.output.event("output", {"category": "stderr", "output": ended})
            self.output.event("terminated")

    def _owe_stop(self) -> None:
        self._stop_owed = True

    # -- threads -----------------------------------------------------------------------
    def thread_id(self, op: Operation) -> int:
        key = (op.actor, op.thread)
        if key not in self.threads:
            self.threads[key] = len(self.threads) + 1
            self.output.event("thread", {"reason": "started", "threadId": self.threads[key]})
        return self.threads[key]

    def add_threads(self, keys: list[tuple[str, str]]) -> None:
        for actor, thread in keys:
            if (actor, thread) not in self.threads:
                self.threads[(actor, thread)] = len(self.threads) + 1
                body = {"reason": "started", "threadId": self.threads[(actor, thread)]}
                self.output.event("thread", body)

    def thread_key(self, thread_id: int) -> tuple[str, str] | None:
        for key, value in self.threads.items():
            if value == thread_id:
                return key
        return None

    # -- stops ---------------------------------------------------------------------------
    def report_stop(self, stop: Stop) -> None:
        """Forget the previous stop's handles and tell the client where we are."""
        self._owe_stop()
        self._cancel_wait()  # any stop supersedes a run still waiting for the analysis
        op = self.engine.current()
        self.handles.reset()
        self.frames.clear()
        self.last_stop = stop
        body: dict[str, Any] = {
            "reason": stop.reason,
            "threadId": self.thread_id(op),
            "allThreadsStopped": True,
            "preserveFocusHint": False,
        }
        if stop.description:
            body["description"] = stop.description
            body["text"] = stop.error or stop.description
        if stop.breakpoint_ids:
            body["hitBreakpointIds"] = stop.breakpoint_ids
        self.output.event("stopped", body)
        self._stop_owed, self._shown = False, stop.seq

    def run_and_stop(self, movement: Movement) -> None:
        """Run a movement with progress reporting and pause support, then report the stop."""
        self._owe_stop()
        self.control = ScanControl(self._progress)
        self._progress_id = 0
        started = time.monotonic()
        stop = movement(self.control)
        if self._progress_id:
            self.output.event("progressEnd", {"progressId": str(self._progress_id)})
        log.debug("movement took %.3f s", time.monotonic() - started)
        self.report_stop(stop)

    def _progress(self, visited: int) -> None:
        if not self.client.get("supportsProgressReporting"):
            return
        if not self._progress_id:
            self._progress_id = int(time.monotonic_ns() & 0xFFFFFFF) or 1
            self.output.event(
                "progressStart",
                {"progressId": str(self._progress_id), "title": "Searching the recording",
                 "cancellable": True, "message": f"{visited} candidates"},
            )  # fmt: skip
            return
        self.output.event(
            "progressUpdate",
            {"progressId": str(self._progress_id), "message": f"{visited} candidates checked"},
        )

    # -- runs and the background analysis -----------------------------------------------
    def run_when_ready(self, movement: Movement) -> None:
        """Run now, unless the enabled exception filters need breakpoints the background
        analysis has not produced yet: then run when it finishes (``analysis_finished``),
        or after ``ANALYSIS_WAIT_S`` without them. Pause or any other stop cancels the wait."""
        post = self.post
        needed = ANALYSIS_FILTERS & set(self.exception_filters)
        if not (self.analysis_running and needed and post is not None):
            self.run_and_stop(movement)
            return
        self._cancel_wait()
        self._waiting, self._wait_token = movement, self._wait_token + 1
        token = self._wait_token
        self._wait_timer = threading.Timer(
            ANALYSIS_WAIT_S, lambda: post(lambda: self.analysis_wait_over(token))
        )
        self._wait_timer.daemon = True
        self._wait_timer.start()
        text = f"kreplay: waiting for the analysis ({', '.join(sorted(needed))}) before running\n"
        self.output.event("output", {"category": "console", "output": text})

    def analysis_finished(self) -> None:
        self.analysis_running = False
        self.analysis_wait_over(None)

    def analysis_wait_over(self, token: int | None) -> None:
        """Run the waiting movement: the analysis finished (``token`` None), or the wait
        numbered ``token`` timed out (ignored when that wait is already over)."""
        movement = self._waiting
        if movement is None or self.terminated or token not in (None, self._wait_token):
            return
        self._cancel_wait()
        if token is not None:
            text = (
                f"kreplay: the analysis is still running after {ANALYSIS_WAIT_S:.0f} s: running"
                " without its loop and race breakpoints (later runs will have them)\n"
            )
            self.output.event("output", {"category": "console", "output": text})
        self.run_and_stop(movement)

    def _cancel_wait(self) -> None:
        self._waiting = None
        if self._wait_timer is not None:
            self._wait_timer.cancel()
            self._wait_timer = None

    def pause(self) -> None:
        """Cancel a running search; a run still waiting for the analysis stops at once."""
        self.control.cancelled = True
        if self._waiting is not None:
            self._cancel_wait()
            engine = self.engine
            self.later(lambda: self.report_stop(Stop(engine.position, "pause", "paused")))

    def log_output(self, breakpoint_: Breakpoint, seq: int, text: str) -> None:
        self.output.event("output", {"category": "console", "output": f"#{seq}: {text}\n"})

    def log_error(self, breakpoint_: Breakpoint, seq: int, text: str) -> None:
        self.output.event("output", {"category": "stderr", "output": f"kreplay: {text}\n"})

    # -- the listing -------------------------------------------------------------------
    def listing_source(self) -> dict[str, Any]:
        engine = self.engine
        return {
            "name": f"{engine.session_id}.listing",
            "sourceReference": LISTING_REFERENCE,
            "presentationHint": "emphasize",
            "origin": "kreplay recording",
        }

    # -- the client's line and column numbering (initialize's linesStartAt1...) ----------
    def client_line(self, line: int) -> int:
        """A 1-based line as the client counts lines."""
        return line - 1 + self.line_base

    def adapter_line(self, line: int) -> int:
        """A line from the client, 1-based."""
        return line + 1 - self.line_base

    @property
    def line_base(self) -> int:
        return 0 if self.client.get("linesStartAt1") is False else 1

    @property
    def column_base(self) -> int:
        return 0 if self.client.get("columnsStartAt1") is False else 1

    def line_of(self, seq: int) -> int:
        return seq - self.engine.first_seq + 1

    def seq_of_line(self, line: int) -> int:
        return line - 1 + self.engine.first_seq

    def listing(self) -> Listing:
        """The listing, built on first use (see ``Listing.text``) and then streamed."""
        if self._listing is None:
            engine = self.engine
            self._listing = Listing(engine.recording, engine.session_id, engine.first_seq)
        return self._listing

    # -- paths -------------------------------------------------------------------------
    def local_path(self, remote: str) -> str:
        for local_root, remote_root in self.config.path_mappings if self.config else []:
            if remote.startswith(remote_root.rstrip("/") + "/"):
                return local_root.rstrip("/") + remote[len(remote_root.rstrip("/")) :]
        return remote

    def remote_path(self, local: str) -> str:
        for local_root, remote_root in self.config.path_mappings if self.config else []:
            if local.startswith(local_root.rstrip("/") + "/"):
                return remote_root.rstrip("/") + local[len(local_root.rstrip("/")) :]
        return local
