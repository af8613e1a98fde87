"""Replay backend: the cluster as of step N of a recording, then the recording played forward.

``ReplayBackend(recording, session_id, step)`` seeds a ``ClusterState`` with the objects the
operator had seen by operation ``step`` (response bodies of get/list/create/update/patch and
watch event objects; deletes remove). Then:

- ``advance(to_seq)`` delivers the recorded watch events up to ``to_seq`` to the watchers, in
  recorded order; ``start()`` runs a feeder thread doing it at ``pace`` "fast" (at once) or
  "recorded" (the recorded gaps), or not at all for "manual" (a debugger drives ``advance``);
- a write that matches the next recorded write (same verb, kind, namespace, name) is answered
  with the recorded response; any other write is applied in memory and recorded as a
  ``Divergence`` (a log line, ``divergences()``, and the ``on_divergence`` hook).

Use it with ``start_server(ReplayBackend(...))``; the live-replay feature reuses it directly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kreplay_dap.apiserver import recorded
from kreplay_dap.apiserver.backend import WriteIntent
from kreplay_dap.apiserver.messages import ApiResponse
from kreplay_dap.apiserver.state import ClusterState
from kreplay_dap.apiserver.status import encode, failure_status
from recorder.errors import InvalidInputError
from recorder.storage.api import Recording
from recorder.storage.model import Operation

logger = logging.getLogger(__name__)

PACES = ("fast", "recorded", "manual")
MAX_DIVERGENCES = 10_000
MAX_RECORDED_GAP_SECONDS = 3_600.0
MAX_BODY_PREVIEW = 4_096


@dataclass(frozen=True, slots=True)
class Divergence:
    """A write the operator made that the recording did not have next."""

    verb: str
    kind: str
    namespace: str
    name: str
    expected_seq: int | None  # the recorded write that was due, None past the last one
    expected: str  # e.g. "update Deployment default/web", or "no more recorded writes"
    request_body: str = ""
    wall_time: float = field(default_factory=time.time)

    def describe(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        due = (
            f" (recorded #{self.expected_seq}: {self.expected})"
            if self.expected_seq
            else f" ({self.expected})"
        )
        return f"divergence: {self.verb} {self.kind} {where} does not match the recording{due}"


@dataclass(slots=True)
class ReplayHooks:
    """Callbacks for the debugger and live replay; called outside the server's locks."""

    on_divergence: Callable[[Divergence], None] | None = None
    on_write_matched: Callable[[Operation], None] | None = None
    on_event_delivered: Callable[[Operation], None] | None = None


def _describe(op: Operation) -> str:
    where = f"{op.namespace}/{op.name}" if op.namespace else op.name
    return f"{op.verb} {op.kind} {where}"


class ReplayBackend:
    """A ``Backend`` serving a recording as of ``step`` (see the module docstring)."""

    def __init__(
        self,
        recording: Recording,
        session_id: str,
        step: int = 0,
        *,
        pace: str = "fast",
        state: ClusterState | None = None,
        hooks: ReplayHooks | None = None,
        feed_on_first_watch: bool = False,
        observe: Callable[[Operation], None] | None = None,
    ) -> None:
        """``observe`` sees every operation after ``step`` during the one setup pass (live
        replay collects the calls it expects there, instead of reading the session again)."""
        if pace not in PACES:
            raise InvalidInputError(f"pace must be one of {', '.join(PACES)}, not {pace!r}")
        if step < 0:
            raise InvalidInputError(f"step must be >= 0, not {step}")
        self.recording = recording
        self.session = recording.session(session_id)
        self.session_id = session_id
        self.step = step
        self.pace = pace
        self.state = state or ClusterState()
        self.state.waits_for_future_versions = True  # the recording brings them
        self.hooks = hooks or ReplayHooks()
        self._recording_lock = threading.Lock()  # the reader is not safe for concurrent use
        self._writes_lock = threading.Lock()
        self._feed_lock = threading.Lock()
        self._writes: list[Operation] = []
        self._write_index = 0
        self._events: list[Operation] = []
        self._event_index = 0
        self._divergences: list[Divergence] = []
        self.dropped_divergences = 0
        self._stop = threading.Event()
        self._feeder: threading.Thread | None = None
        # Exploring with kubectl: the state stays at ``step`` until a client watches.
        self.feed_on_first_watch = feed_on_first_watch
        self._feeder_lock = threading.Lock()
        self._scan(observe)

    # -- setup -------------------------------------------------------------------------------
    def _scan(self, observe: Callable[[Operation], None] | None) -> None:
        """One pass: seed the state up to ``step``; index later writes and watch events."""
        for op in self.recording.operations(self.session_id):
            if op.seq <= self.step:
                recorded.apply_operation(self.state, op, self._body(op), emit=False)
                continue
            if observe is not None:
                observe(op)
            recorded.kind_of(self.state.registry, op, None)
            if op.is_write:
                self._writes.append(op)
            elif op.verb == "watch" and op.event_type in ("ADDED", "MODIFIED", "DELETED"):
                self._events.append(op)

    def _body(self, op: Operation) -> Any:
        with self._recording_lock:
            return self.recording.body_json(op.response_ref)

    # -- watch events ------------------------------------------------------------------------
    @property
    def position(self) -> int:
        """The seq of the last delivered recorded watch event (``step`` before any)."""
        with self._feed_lock:
            return self._events[self._event_index - 1].seq if self._event_index else self.step

    def pending_events(self) -> int:
        with self._feed_lock:
            return len(self._events) - self._event_index

    def advance(self, to_seq: int | None = None, limit: int | None = None) -> int:
        """Deliver recorded watch events with seq <= ``to_seq`` (all if None); returns how many."""
        delivered: list[Operation] = []
        with self._feed_lock:
            budget = len(self._events) if limit is None else max(0, limit)
            while self._event_index < len(self._events) and len(delivered) < budget:
                op = self._events[self._event_index]
                if to_seq is not None and op.seq > to_seq:
                    break
                recorded.apply_operation(self.state, op, self._body(op), emit=True)
                self._event_index += 1
                delivered.append(op)
        if self.hooks.on_event_delivered is not None:
            for op in delivered:
                self.hooks.on_event_delivered(op)
        return len(delivered)

    # -- writes ------------------------------------------------------------------------------
    def divergences(self) -> list[Divergence]:
        with self._writes_lock:
            return list(self._divergences)

    def next_recorded_write(self) -> Operation | None:
        with self._writes_lock:
            return (
                self._writes[self._write_index] if self._write_index < len(self._writes) else None
            )

    def intercept_write(self, intent: WriteIntent) -> ApiResponse | None:
        with self._writes_lock:
            expected = (
                self._writes[self._write_index] if self._write_index < len(self._writes) else None
            )
            if expected is not None and _matches(expected, intent):
                self._write_index += 1
                divergence = None
            else:
                divergence = self._diverge(intent, expected)
        if divergence is not None:
            logger.warning("%s", divergence.describe())
            if self.hooks.on_divergence is not None:
                self.hooks.on_divergence(divergence)
            return None
        assert expected is not None
        if self.hooks.on_write_matched is not None:
            self.hooks.on_write_matched(expected)
        return self.recorded_response(expected)

    def _diverge(self, intent: WriteIntent, expected: Operation | None) -> Divergence:
        info = intent.target.info
        preview = (
            encode(intent.body)[:MAX_BODY_PREVIEW].decode("utf-8", "replace")
            if intent.body is not None
            else ""
        )
        divergence = Divergence(
            intent.verb, info.kind, intent.target.namespace, intent.name,
            expected.seq if expected else None,
            _describe(expected) if expected else "no more recorded writes", preview,
        )  # fmt: skip
        if len(self._divergences) < MAX_DIVERGENCES:
            self._divergences.append(divergence)
        else:
            self.dropped_divergences += 1
        return divergence

    def recorded_response(self, op: Operation) -> ApiResponse | None:
        """The recorded answer; the state takes the recorded object (without a watch event,
        since the recorded watch events deliver the change)."""
        body = self._body(op)
        if op.is_error:
            code = op.error_code or op.status_code or 500
            if not isinstance(body, dict) or body.get("kind") != "Status":
                body = failure_status(code, op.error_reason or "Unknown", op.error_message)
            return ApiResponse.json(code, body)
        if body is None:
            return None  # nothing recorded to answer with: apply the write instead
        recorded.apply_operation(self.state, op, body, emit=False)
        code = op.status_code or (201 if op.verb == "create" else 200)
        return ApiResponse.json(code, body)

    _recorded_response = recorded_response  # the name live replay first used

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if not self.feed_on_first_watch:
            self._start_feeder()

    def watch_started(self) -> None:
        """Called by the resolver for each watch request (an optional backend method)."""
        if self.feed_on_first_watch:
            self._start_feeder()

    def _start_feeder(self) -> None:
        with self._feeder_lock:
            if self.pace == "manual" or self._feeder is not None:
                return
            self._feeder = threading.Thread(
                target=self._feed, name="kreplay-replay-feeder", daemon=True
            )
            self._feeder.start()

    def stop(self) -> None:
        self._stop.set()
        if self._feeder is not None and self._feeder is not threading.current_thread():
            self._feeder.join(timeout=10)
        self.state.close()

    def _feed(self) -> None:
        if self.pace == "fast":
            self.advance()
            return
        with self._feed_lock:
            timeline = [op.ts_ns for op in self._events[self._event_index :]]
        if not timeline:
            return
        origin_ns, started = timeline[0], time.monotonic()
        for ts_ns in timeline:
            due = min((ts_ns - origin_ns) / 1e9, MAX_RECORDED_GAP_SECONDS)
            if self._stop.wait(max(0.0, started + due - time.monotonic())):
                return
            self.advance(limit=1)


def _matches(op: Operation, intent: WriteIntent) -> bool:
    target = intent.target
    if op.verb != intent.verb or op.kind != target.info.kind:
        return False
    if (op.namespace or "") != (target.namespace or ""):
        return False
    name = intent.name
    return op.name == name or (intent.verb == "create" and not name)
