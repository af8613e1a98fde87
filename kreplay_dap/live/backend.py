"""The mock API server's backend for live replay.

It wraps a manual-pace ``ReplayBackend`` and moves the replay position as the operator
makes the writes the recording expects: the recorded watch events that came before the
next expected write are delivered; the operator's write is judged by ``WriteMatcher``;
a match gets the recorded response (409s included, so retry logic replays faithfully), any
other write is applied to the in-memory cluster and reported as a divergence.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from kreplay_dap.apiserver.backend import WriteIntent
from kreplay_dap.apiserver.messages import ApiResponse
from kreplay_dap.apiserver.objects import Target
from kreplay_dap.apiserver.replay import ReplayBackend
from kreplay_dap.apiserver.state import ClusterState
from kreplay_dap.live.matcher import LiveWrite, Verdict, WriteMatcher
from kreplay_dap.live.report import Divergence, LiveSummary, RecordedWrite
from recorder.errors import InvalidInputError
from recorder.storage.api import Recording
from recorder.storage.model import Operation
from recorder.storage.reader import KreplayRecording

MAX_SCANNED = 5_000_000
CALL_LOOKAHEAD = 16

_Call = tuple[int, str, str, str, str]  # seq, verb, kind, namespace, name


def busiest_writer(recording: Recording, session_id: str) -> str:
    """The actor that made the most writes: by default, the one being replayed (ties go to
    the first name in sorting order)."""
    if isinstance(recording, KreplayRecording):  # counted inside SQLite, not op by op
        counts = recording.writes_by_actor(session_id)
    else:
        counts = _writes_by_actor(recording, session_id)
    if not counts:
        raise InvalidInputError(f"session {session_id!r} has no recorded writes to replay")
    return max(sorted(counts), key=lambda actor: counts[actor])


MAX_LISTED_ACTORS = 20


def check_actor(recording: Recording, session_id: str, actor: str) -> str:
    """``actor`` when it made operations in the session; else an error listing those that
    did (like an unknown session): replaying an absent actor would pass vacuously."""
    actors = recording.session(session_id).actors
    if actor in actors:
        return actor
    ranked = sorted(actors, key=lambda name: (-actors[name], name))
    shown = ", ".join(name or "''" for name in ranked[:MAX_LISTED_ACTORS]) or "none"
    more = len(ranked) - MAX_LISTED_ACTORS
    raise InvalidInputError(
        f"unknown actor {actor!r} in session {session_id!r}; actors in this session: {shown}"
        + (f" (+{more} more)" if more > 0 else "")
    )


def _writes_by_actor(recording: Recording, session_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for index, op in enumerate(recording.operations(session_id)):
        if index >= MAX_SCANNED:
            break
        if op.is_write:
            counts[op.actor] = counts.get(op.actor, 0) + 1
    return counts


class LiveBackend:
    """A ``Backend`` (see ``kreplay_dap.apiserver.backend``) for ``kreplay live``."""

    def __init__(
        self,
        recording: Recording,
        session_id: str,
        *,
        from_step: int = 0,
        until_step: int | None = None,
        actor: str | None = None,
        ignore: tuple[tuple[str, ...], ...] = (),
        on_divergence: Callable[[Divergence], None] | None = None,
        on_step: Callable[[int], None] | None = None,
    ) -> None:
        if actor is None:
            self.actor = busiest_writer(recording, session_id)
        else:
            self.actor = check_actor(recording, session_id, actor)
        self.until_step = until_step
        self._on_divergence = on_divergence
        self._on_step = on_step
        self._ops: dict[int, Operation] = {}
        self._calls: deque[_Call] = deque()
        self._recording = recording
        expected: list[RecordedWrite] = []
        # The replay's one setup pass also collects the calls this actor is expected to make.
        self.replay = ReplayBackend(
            recording, session_id, from_step, pace="manual",
            observe=lambda op: self._expect(op, expected),
        )  # fmt: skip
        self.state: ClusterState = self.replay.state
        self._matcher = WriteMatcher(expected, ignore)
        self.summary = LiveSummary(session_id, self.actor)
        self._lock = threading.Lock()
        self.last_activity = time.monotonic()
        self.calls_seen = 0

    def _expect(self, op: Operation, writes: list[RecordedWrite]) -> None:
        """One recorded operation after the start step: a call the actor should make."""
        if self.until_step is not None and op.seq > self.until_step:
            return
        if op.actor != self.actor or op.verb == "watch":
            return
        self._calls.append((op.seq, op.verb, op.kind, op.namespace, op.name))
        self._ops[op.seq] = op
        if op.is_write:
            body = self._recording.body_json(op.request_ref)
            if body is None:
                body = self._recording.body_json(op.response_ref)
            writes.append(RecordedWrite(op.seq, op.verb, op.kind, op.namespace, op.name, body))

    def start(self) -> None:
        self._deliver_until_next_call()

    def intercept_read(self, verb: str, target: Target) -> ApiResponse | None:
        """A read the recording expects next gets the recorded answer (what the operator
        saw then, even state changed by actors that were not recorded) and moves the
        replay position; any other read is served from the in-memory cluster."""
        with self._lock:
            seq = self._consume_call(verb, target.info.kind, target.namespace, target.name)
            self.last_activity = time.monotonic()
            self.calls_seen += 1
        response = None if seq is None else self.replay.recorded_response(self._ops[seq])
        if seq is not None and self._on_step is not None:
            self._on_step(seq)
        self._deliver_until_next_call()
        return response

    def _consume_call(self, verb: str, kind: str, namespace: str, name: str) -> int | None:
        window = list(self._calls)[:CALL_LOOKAHEAD]
        for index, (seq, c_verb, c_kind, c_namespace, c_name) in enumerate(window):
            if (c_verb, c_kind, c_namespace) == (verb, kind, namespace) and c_name in {name, ""}:
                for _ in range(index + 1):
                    self._calls.popleft()
                return seq
        return None

    def _consume_calls_through(self, seq: int) -> None:
        while self._calls and self._calls[0][0] <= seq:
            self._calls.popleft()

    def stop(self) -> None:
        self.replay.stop()

    def intercept_write(self, intent: WriteIntent) -> ApiResponse | None:
        live = LiveWrite(
            intent.verb, intent.target.info.kind, intent.target.namespace, intent.name, intent.body
        )
        with self._lock:
            verdict = self._matcher.observe(live)
            self._account(verdict)
            if verdict.step is not None:
                self._consume_calls_through(verdict.step.seq)
            self.last_activity = time.monotonic()
            self.calls_seen += 1
        if verdict.step is not None and self._on_step is not None:
            self._on_step(verdict.step.seq)
        for divergence in verdict.divergences:
            if self._on_divergence is not None:
                self._on_divergence(divergence)
        response = self._answer(verdict)
        self._deliver_until_next_call()
        return response

    def _account(self, verdict: Verdict) -> None:
        self.summary.divergences.extend(verdict.divergences)
        if verdict.matched and verdict.step is not None:
            self.summary.matched.append(verdict.step.seq)

    def _answer(self, verdict: Verdict) -> ApiResponse | None:
        if not verdict.matched or verdict.step is None:
            return None  # applied live, so the run can continue
        return self.replay.recorded_response(self._ops[verdict.step.seq])

    def _deliver_until_next_call(self) -> None:
        """Deliver the recorded events the operator saw before its next expected call."""
        with self._lock:
            upcoming = self._calls[0][0] if self._calls else None
        limit = upcoming - 1 if upcoming is not None else self.until_step
        if self.replay.advance(limit):
            self.last_activity = time.monotonic()

    def release_stalled(self) -> bool:
        """The operator waits on its watch while the recording expects a call first (its
        reads differ from the recorded ones): deliver up to the next expected write."""
        if not self.calls_seen or not self.replay.pending_events():
            return False
        with self._lock:
            upcoming = self._matcher.next_expected()
            if upcoming is not None:
                self._consume_calls_through(upcoming.seq - 1)
        self._deliver_until_next_call()
        return True

    def finish(self) -> LiveSummary:
        """The operator went idle or exited: expected writes still pending are missing."""
        with self._lock:
            self.summary.unconsumed = self._matcher.remaining
            self.summary.divergences.extend(self._matcher.finish())
        return self.summary

    def describe_next(self) -> dict[str, Any] | None:
        upcoming = self._matcher.next_expected()
        return None if upcoming is None else upcoming.to_json()
