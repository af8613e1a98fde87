"""The reader contract: what every recording flavour (ours, the Go tool's two schemas) offers.

Replay, analysis, the mock API server, the DAP and LSP servers program against this
protocol only, never against SQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from recorder.storage.model import ObjectRef, Operation, ReconcileSpan, SessionInfo


class LimitLog:
    """The bound events a reader hit (``limit_events``), each listed once."""

    max_ops: int

    def __init__(self) -> None:
        self.limit_events: list[str] = []

    def note_limit(self, message: str) -> None:
        """Records a bound event (from this reader, or from a process reading for it)."""
        if message not in self.limit_events:
            self.limit_events.append(message)

    def note_operation_limit(self, session_id: str) -> None:
        self.note_limit(
            f"session {session_id!r}: stopped reading at the {self.max_ops}-operation limit"
        )


class Recording(Protocol):
    """A recording file opened read-only."""

    path: str
    flavor: str  # "kreplay", "seed-v1" or "seed-v2"
    max_ops: int  # operations read per session at most
    limit_events: list[str]  # the bounds hit while reading (``LimitLog``)

    def sessions(self) -> list[SessionInfo]:
        """Every session with its summary (no full scan)."""
        ...

    def session_ids(self) -> list[str]:
        """The names of the sessions, without their summaries."""
        ...

    def limit_seq(self, session_id: str) -> int | None:
        """The last operation read under the operation limit (``max_ops``) when the session
        has more operations (the limit is then noted in ``limit_events``); else None."""
        ...

    def session(self, session_id: str) -> SessionInfo:
        """One session; raises UnknownSessionError listing the sessions that exist."""
        ...

    def operation(self, session_id: str, seq: int) -> Operation | None:
        """Operation ``seq`` of a session (bodies left as refs), or None."""
        ...

    def operations(
        self, session_id: str, start_seq: int | None = None, end_seq: int | None = None
    ) -> Iterator[Operation]:
        """Operations in sequence order, inclusive bounds, streamed in batches."""
        ...

    def operations_reversed(
        self, session_id: str, start_seq: int | None = None, end_seq: int | None = None
    ) -> Iterator[Operation]:
        """Operations from ``end_seq`` down to ``start_seq``, streamed in batches."""
        ...

    def next_seq(self, session_id: str, seq: int) -> int | None:
        """The smallest sequence number greater than ``seq``."""
        ...

    def prev_seq(self, session_id: str, seq: int) -> int | None:
        """The largest sequence number smaller than ``seq``."""
        ...

    def object_neighbor(self, session_id: str, seq: int, forward: bool) -> Operation | None:
        """The next (or previous) operation on the same object as operation ``seq``."""
        ...

    def object_operations(
        self, session_id: str, ref: ObjectRef, start_seq: int | None = None, reverse: bool = False
    ) -> Iterator[Operation]:
        """The operations of one object, by index, in (reverse) sequence order."""
        ...

    def objects(self, session_id: str) -> Iterator[ObjectRef]:
        """Every object identity touched in a session."""
        ...

    def spans(self, session_id: str) -> Iterator[ReconcileSpan]:
        """Reconcile spans in start order."""
        ...

    def span(self, session_id: str, span_id: int) -> ReconcileSpan | None: ...

    def callsite_files(self, session_id: str) -> list[str]:
        """Distinct source files named by the top call-site frame of any operation."""
        ...

    def callsite_operations(self, session_id: str, file: str) -> Iterator[Operation]:
        """Operations whose top call-site frame is in ``file``, in sequence order."""
        ...

    def body(self, ref: int | None) -> bytes | None:
        """The JSON text of a body handle (``Operation.request_ref``/``response_ref``)."""
        ...

    def body_json(self, ref: int | None) -> Any:
        """The decoded JSON of a body handle, cached; None when absent or not JSON."""
        ...

    def close(self) -> None: ...
