"""Per-connection adapter state: the engine, threads, frames and handles of the current stop.

Handlers translate between DAP and this object; the replay logic lives in ReplayEngine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kreplay_dap.dap.dispatch import Output
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
            action()

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
        self.handles.reset()
        self.frames.clear()
        self.last_stop = stop
        op = self.engine.current()
        body: dict[str, Any] = {
            "reason": stop.reason,
            "threadId": self.thread_id(op),
            "allThreadsStopped": True,
            "preserveFocusHint": False,
        }
        if stop.description:
            body["description"] = stop.description
            body["text"] = stop.description
        if stop.breakpoint_ids:
            body["hitBreakpointIds"] = stop.breakpoint_ids
        self.output.event("stopped", body)

    def run_and_stop(self, movement: Callable[[ScanControl], Stop]) -> None:
        """Run a movement with progress reporting and pause support, then report the stop."""
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

    def log_output(self, breakpoint_: Breakpoint, seq: int, text: str) -> None:
        self.output.event("output", {"category": "console", "output": f"#{seq}: {text}\n"})

    # -- the listing -------------------------------------------------------------------
    def listing_source(self) -> dict[str, Any]:
        engine = self.engine
        return {
            "name": f"{engine.session_id}.listing",
            "sourceReference": LISTING_REFERENCE,
            "presentationHint": "emphasize",
            "origin": "kreplay recording",
        }

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
