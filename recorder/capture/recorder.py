"""``Recorder``: one line to record every Kubernetes API call an operator makes.

Overhead: the operator's thread takes two clocks, a short call-site walk (cached per
code object) and one lock-free append to a bounded deque. A watch stream costs one copy
and one append per socket read (up to 64 KiB, many events in a burst), not a step per
event. A sender thread wakes every 100 ms and hands frames to a writer process
(``writev``, GIL released; watch bytes are written as they are, never copied), which
parses, redacts and writes them, so the recorder's CPU work never competes with the
operator's for the GIL.

Bounded memory: at most ``queue_max_items`` messages or ``queue_max_bytes`` of bodies
wait for the writer. Beyond that, operations are dropped (never blocking the
operator) and counted in the session's ``dropped_ops``. The writer process runs
under SCHED_IDLE: on a saturated node it writes only in idle CPU time, so a long
burst there fills the queue and drops, rather than slowing the operator.

Safety: no failure inside the recorder reaches operator code; each is counted in
``stats()``. The operator's calls return exactly what they return unrecorded.
"""

from __future__ import annotations

import atexit
import contextvars
import itertools
import os
import secrets
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import recorder as recorder_package
from recorder.capture import messages as m
from recorder.capture.body_tee import finish_all_unread_bodies
from recorder.capture.hooks import RecordedCallApi, current_span, describe_error, thread_label
from recorder.capture.pipeline import Pipeline
from recorder.capture.redact import parse_paths
from recorder.errors import InvalidInputError
from recorder.storage.writer import DEFAULT_MAX_OBJECT_BYTES, DEFAULT_MAX_OPS

_MAX_ID_LENGTH = 256


def default_actor() -> str:
    """The process's name and pid, e.g. ``widget-operator-4711``."""
    program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    return f"{program.removesuffix('.py') or 'python'}-{os.getpid()}"


def _check_text(name: str, value: object, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise InvalidInputError(f"{name} must be a non-empty string")
    if len(value) > _MAX_ID_LENGTH or any(ch in value for ch in "\n\r\x00"):
        raise InvalidInputError(f"{name} must be one line of at most {_MAX_ID_LENGTH} characters")
    return value


def _check_positive(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    return value


class Recorder:
    """Records the Kubernetes API calls of instrumented ``ApiClient`` objects."""

    def __init__(
        self,
        path: str,
        session_id: str | None = None,
        *,
        actor: str | None = None,
        redact_paths: Sequence[str] = (),
        redaction_key: bytes | None = None,
        max_ops: int = DEFAULT_MAX_OPS,
        max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
        queue_max_items: int = 100_000,
        queue_max_bytes: int = 64 << 20,
        busy_timeout_ms: int = 10_000,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.path = os.path.abspath(_check_text("path", path))
        session_id = session_id or f"session-{uuid.uuid4().hex[:12]}"
        self.session_id = _check_text("session_id", session_id)
        self.actor = _check_text("actor", actor if actor is not None else default_actor())
        parse_paths(redact_paths)
        key = redaction_key if redaction_key is not None else secrets.token_bytes(32)
        if not isinstance(key, bytes) or not key:
            raise InvalidInputError("redaction_key must be non-empty bytes")
        self.max_object_bytes = _check_positive("max_object_bytes", max_object_bytes)
        config = {
            "path": self.path, "session_id": self.session_id, "actor": self.actor,
            "operator": self.actor, "recorder_version": recorder_package.__version__,
            "labels": dict(labels or {}), "max_ops": _check_positive("max_ops", max_ops),
            "max_object_bytes": max_object_bytes, "redact_paths": list(redact_paths),
            "redaction_key": key.hex(),
            "busy_timeout_ms": _check_positive("busy_timeout_ms", busy_timeout_ms),
        }  # fmt: skip
        self.enabled = True
        self.internal_errors = 0
        self.last_internal_error = ""
        self._span_tokens = itertools.count(1)
        self._stream_ids = itertools.count(1)
        self._pipeline = Pipeline(
            config,
            _check_positive("queue_max_items", queue_max_items),
            _check_positive("queue_max_bytes", queue_max_bytes),
        )
        # The bounded hand-off to the writer process; an attribute, not a property: the
        # hooks read it on every call (the watch loop appends to its queue inline).
        self.pipeline = self._pipeline
        atexit.register(self.close)

    # -- public API ---------------------------------------------------------------------
    def instrument(self, api_client: Any) -> Any:
        """Record every call made through ``api_client``; returns the same client."""
        current = getattr(api_client, "call_api", None)
        if not callable(current) or not hasattr(api_client, "rest_client"):
            raise InvalidInputError("instrument() expects a kubernetes.client.ApiClient")
        if isinstance(current, RecordedCallApi):
            current.recorder = self
            return api_client
        api_client.call_api = RecordedCallApi(self, current)
        return api_client

    def reconcile(self, kind: str, namespace: str, name: str, trigger: str = "") -> ReconcileScope:
        """A context manager: operations inside belong to one reconcile span."""
        return ReconcileScope(self, kind, namespace, name, trigger)

    def enable(self) -> None:
        self.enabled = True

    def disable(self) -> None:
        self.enabled = False

    def flush(self, timeout: float = 10.0) -> dict[str, Any]:
        """Block until everything recorded so far is committed; returns ``stats()``."""
        self._pipeline.flush(timeout)
        return self.stats()

    def stats(self) -> dict[str, Any]:
        """Counters: written, dropped, failures (and the last error), truncated."""
        pipeline = self._pipeline
        writer = dict(pipeline.last_stats)
        return {
            "written": int(writer.get("written", 0)),
            "dropped": pipeline.dropped + int(writer.get("dropped", 0)),
            "failures": pipeline.failures + self.internal_errors + int(writer.get("failures", 0)),
            "oversize": int(writer.get("oversize", 0)),
            "over_cap": int(writer.get("over_cap", 0)),
            "truncated": bool(writer.get("truncated", False)),
            "last_error": self.last_internal_error or pipeline.last_error
            or str(writer.get("last_error", "")),
        }  # fmt: skip

    def close(self, timeout: float = 10.0) -> dict[str, Any]:
        """Flush, end the session and stop the writer. Idempotent; also runs at exit."""
        self.guarded(finish_all_unread_bodies)  # of every thread: their calls go in too
        self.enabled = False
        self._pipeline.close(timeout)
        atexit.unregister(self.close)
        return self.stats()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- used by the hooks, on operator threads -----------------------------------------
    def emit(self, message: m.Message, size: int) -> None:
        self._pipeline.put(message, size)

    def current_span(self) -> int:
        return current_span.get()

    def new_stream_id(self) -> int:
        return next(self._stream_ids)

    def guarded(self, action: Callable[..., None], *args: Any) -> None:
        """Run recorder work on an operator thread; count failures, never raise them."""
        try:
            action(*args)
        except Exception as error:  # noqa: BLE001 - the operator must never see our bugs
            self.count_error(error)

    def count_error(self, error: BaseException) -> None:
        self.internal_errors += 1
        self.last_internal_error = f"{type(error).__name__}: {error}"[:500]


class ReconcileScope:
    """``with rec.reconcile(...)``: a span; an exception inside is recorded and re-raised."""

    def __init__(self, recorder: Recorder, kind: str, namespace: str, name: str, trigger: str):
        self.recorder = recorder
        self.fields = (str(kind), str(namespace), str(name), str(trigger)[:1024])
        self.token = 0
        self._reset: contextvars.Token[int] | None = None

    def __enter__(self) -> ReconcileScope:
        recorder = self.recorder
        if recorder.enabled:
            self.token = next(recorder._span_tokens)
            self._reset = current_span.set(self.token)
            start = (m.SPAN_START, self.token, *self.fields, thread_label(), time.time_ns())
            recorder.guarded(recorder.emit, start, 0)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._reset is not None:
            current_span.reset(self._reset)
            error = describe_error(exc) if exc is not None else ""
            end = (m.SPAN_END, self.token, time.time_ns(), error)
            self.recorder.guarded(self.recorder.emit, end, 0)
