"""Batched writer of the kreplay recording format.

One ``append`` is one transaction, so a crash loses at most the batch being written.
Several processes may write to one file at once (WAL, busy timeout, each batch under
``BEGIN IMMEDIATE``); the session row is re-read inside each transaction so two writers
of one session still number their operations without gaps or duplicates.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from recorder.errors import LimitExceededError, RecordingError
from recorder.storage import runs
from recorder.storage.codec import BlobEncoder
from recorder.storage.connection import open_writable
from recorder.storage.model import CallFrame, Operation, ReconcileSpan, SessionInfo
from recorder.storage.schema import migrate

_log = logging.getLogger(__name__)

ORIGIN_ITEMS = frozenset({"session", "op", "span"})

DEFAULT_MAX_OPS = 1_000_000
DEFAULT_MAX_OBJECT_BYTES = 1 << 20
_CACHE_LIMIT = 100_000
_IDENTITY_CACHE_LIMIT = 4096
MAX_FRAMES = 64  # call-site frames kept per operation

_INSERT_OP = (
    "INSERT INTO ops (session, seq, ts_ns, verb, event_type, api_version, kind, resource,"
    " subresource, namespace, name, uid, resource_version, generation, object_id, patch_type,"
    " request_blob, response_blob, status_code, error_code, error_reason, error_message,"
    " duration_us, actor, thread, span_id, callsite_id)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


_Row = tuple[Any, ...]
# Columns of an ops row read per batch (C-level getters: no Python frame per row).
_TS_NS = itemgetter(2)
_SPAN_ID = itemgetter(25)
_COUNTED = itemgetter(0, 6, 3, 23)  # session, kind, verb, actor


@dataclass
class AppendResult:
    """What happened to one batch: how many were written, refused by the cap, or shrunk."""

    written: int = 0
    over_cap: int = 0
    oversize: int = 0
    first_seq: int | None = None
    last_seq: int | None = None


@dataclass
class _SessionState:
    rowid: int
    last_seq: int
    op_count: int
    truncated: bool
    oversize: int = 0


class RecordingWriter:
    """Writes sessions, operations and reconcile spans into one recording file."""

    def __init__(
        self,
        path: str,
        *,
        max_ops: int = DEFAULT_MAX_OPS,
        max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
    ) -> None:
        if max_ops <= 0 or max_object_bytes <= 0:
            raise LimitExceededError("max_ops and max_object_bytes must be positive")
        self.path = path
        self.max_ops = max_ops
        self.max_object_bytes = max_object_bytes
        self._conn = open_writable(path)
        try:
            migrate(self._conn, path)
        except sqlite3.DatabaseError as error:
            self._conn.close()
            raise RecordingError(f"{path}: cannot prepare recording ({error})") from error
        except BaseException:
            self._conn.close()
            raise
        self._blobs = BlobEncoder(self._conn)
        self._objects: dict[tuple[int, str, str, str], int] = {}
        self._callsites: dict[tuple[CallFrame, ...], int] = {}
        self._sessions: dict[str, int] = {}
        self._callsites_by_identity: dict[int, tuple[tuple[CallFrame, ...], int]] = {}

    # -- sessions -----------------------------------------------------------------------
    def begin_session(self, info: SessionInfo) -> None:
        """Create the session, or resume it when it already exists in the file."""
        started = info.started_ns or time.time_ns()
        with self._transaction():
            self._conn.execute(
                "INSERT INTO sessions (session_id, started_ns, operator, cluster, server_version,"
                " recorder_version, labels) VALUES (?,?,?,?,?,?,?)"
                " ON CONFLICT(session_id) DO NOTHING",
                (
                    info.session_id,
                    started,
                    info.operator,
                    info.cluster,
                    info.server_version,
                    info.recorder_version,
                    json.dumps(info.labels, sort_keys=True),
                ),
            )
            self._sessions[info.session_id] = self._state(info.session_id).rowid

    def update_session(self, session_id: str, **fields: str | int | None) -> None:
        """Set metadata columns (operator, cluster, server_version, ended_ns...)."""
        allowed = {
            "operator", "cluster", "server_version", "recorder_version", "started_ns", "ended_ns"
        }  # fmt: skip
        unknown = set(fields) - allowed
        if unknown:
            raise RecordingError(f"cannot set session fields {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in sorted(fields))
        values = [fields[name] for name in sorted(fields)]
        with self._transaction():
            self._conn.execute(
                f"UPDATE sessions SET {assignments} WHERE session_id = ?",
                (*values, session_id),
            )

    def session_ids(self) -> set[str]:
        """The sessions already in the file (any writer's)."""
        rows = self._conn.execute("SELECT session_id FROM sessions").fetchall()
        return {str(row[0]) for row in rows}

    def session_summary(self, session_id: str) -> SessionInfo:
        """The session row as written so far (without the per-kind/actor/verb counts)."""
        row = self._conn.execute(
            "SELECT started_ns, ended_ns, op_count, first_seq, last_seq, first_ts_ns,"
            " last_ts_ns, dropped_ops, oversize_ops, truncated FROM sessions"
            " WHERE session_id = ?",
            (session_id,),
        ).fetchone()
        if row is None:
            raise RecordingError(f"session {session_id!r} was not begun in {self.path}")
        return SessionInfo(
            session_id, started_ns=row[0], ended_ns=row[1], op_count=row[2], first_seq=row[3],
            last_seq=row[4], first_ts_ns=row[5], last_ts_ns=row[6], dropped_ops=row[7],
            oversize_ops=row[8], truncated=bool(row[9]),
        )  # fmt: skip

    def end_session(self, session_id: str, ended_ns: int | None = None) -> None:
        self.update_session(session_id, ended_ns=ended_ns or time.time_ns())

    def add_dropped(self, session_id: str, count: int) -> None:
        """Count operations the recorder had to drop (queue full, internal failure)."""
        if count <= 0:
            return
        with self._transaction():
            self._conn.execute(
                "UPDATE sessions SET dropped_ops = dropped_ops + ? WHERE session_id = ?",
                (count, session_id),
            )

    # -- operations ---------------------------------------------------------------------
    def append(self, ops: Sequence[Operation]) -> AppendResult:
        """Write a batch in one transaction; seq 0 means "assign the next number"."""
        result = AppendResult()
        if not ops:
            return result
        with self._transaction():
            states: dict[str, _SessionState] = {}
            rows: list[_Row] = []
            for op in ops:
                state = states.get(op.session_id)
                if state is None:
                    state = states[op.session_id] = self._state(op.session_id)
                row = self._row(op, state, result)
                if row is not None:
                    rows.append(row)
            result.written = len(rows)
            if rows:
                result.first_seq, result.last_seq = rows[0][1], rows[-1][1]
            self._blobs.flush()
            self._conn.executemany(_INSERT_OP, rows)
            for axis, run_rows in runs.run_rows(rows).items():
                self._conn.executemany(runs.insert_sql(axis), run_rows)
            self._update_summaries(states, rows)
        return result

    def _row(self, op: Operation, state: _SessionState, result: AppendResult) -> _Row | None:
        if state.op_count >= self.max_ops:
            result.over_cap += 1
            state.truncated = True
            return None
        seq = op.seq if op.seq > 0 else state.last_seq + 1
        if seq <= state.last_seq:
            raise RecordingError(
                f"session {op.session_id!r}: sequence {seq} is not after {state.last_seq}"
            )
        state.last_seq = seq
        state.op_count += 1
        op.seq = seq
        rowid = state.rowid
        object_id = self._objects.get((rowid, op.kind, op.namespace, op.name))
        if object_id is None:
            object_id = self._object_id(rowid, op)
        request, response = op.request_body, op.response_body
        limit, store = self.max_object_bytes, self._blobs.store  # hot path: no call between
        request_blob = response_blob = None
        if request is not None:
            request_blob = (
                store(request, -object_id)
                if len(request) <= limit
                else self._oversize(len(request), -object_id, result, state)
            )
        if response is not None:
            response_blob = (
                store(response, object_id)
                if len(response) <= limit
                else self._oversize(len(response), object_id, result, state)
            )
        frames = op.call_site
        # Recorders reuse one tuple per call site: find it by identity before hashing frames.
        same = self._callsites_by_identity.get(id(frames)) if frames else None
        callsite = same[1] if same is not None and same[0] is frames else self._callsite_id(frames)
        return (
            rowid, seq, op.ts_ns, op.verb, op.event_type, op.api_version, op.kind,
            op.resource, op.subresource, op.namespace, op.name, op.uid, op.resource_version,
            op.generation, object_id, op.patch_type, request_blob, response_blob,
            op.status_code, op.error_code, op.error_reason, op.error_message, op.duration_us,
            op.actor, op.thread, op.span_id, callsite,
        )  # fmt: skip

    def _oversize(self, size: int, key: int, result: AppendResult, state: _SessionState) -> int:
        """A body over ``max_object_bytes``: counted, and stored as a marker of its size."""
        result.oversize += 1
        state.oversize += 1
        return self._blobs.store(json.dumps({"kreplay": "oversize", "bytes": size}).encode(), key)

    def _object_id(self, session_rowid: int, op: Operation) -> int:
        key = (session_rowid, op.kind, op.namespace, op.name)
        cached = self._objects.get(key)
        if cached is not None:
            return cached
        self._conn.execute(
            "INSERT INTO objects (session, kind, namespace, name) VALUES (?,?,?,?)"
            " ON CONFLICT DO NOTHING",
            key,
        )
        row = self._conn.execute(
            "SELECT id FROM objects WHERE session=? AND kind=? AND namespace=? AND name=?", key
        ).fetchone()
        if len(self._objects) >= _CACHE_LIMIT:
            self._objects.clear()
        self._objects[key] = int(row[0])
        return int(row[0])

    def _callsite_id(self, frames: tuple[CallFrame, ...]) -> int | None:
        if not frames:
            return None
        # Recorders reuse one tuple per call site: find it by identity before hashing frames.
        same = self._callsites_by_identity.get(id(frames))
        if same is not None and same[0] is frames:
            return same[1]
        cached = self._callsites.get(frames)
        if cached is not None:
            self._remember_callsite_tuple(frames, cached)
            return cached
        text = "\n".join(str(frame) for frame in frames[:MAX_FRAMES])
        top = frames[0]
        self._conn.execute(
            "INSERT INTO callsites (frames, file, line, function) VALUES (?,?,?,?)"
            " ON CONFLICT DO NOTHING",
            (text, top.file, top.line, top.function),
        )
        row = self._conn.execute("SELECT id FROM callsites WHERE frames = ?", (text,)).fetchone()
        if len(self._callsites) >= _CACHE_LIMIT:
            self._callsites.clear()
        self._callsites[frames] = int(row[0])
        self._remember_callsite_tuple(frames, int(row[0]))
        return int(row[0])

    def _remember_callsite_tuple(self, frames: tuple[CallFrame, ...], callsite_id: int) -> None:
        if len(self._callsites_by_identity) >= _IDENTITY_CACHE_LIMIT:
            self._callsites_by_identity.clear()
        # Holding the tuple keeps its id from being reused by another object.
        self._callsites_by_identity[id(frames)] = (frames, callsite_id)

    def _state(self, session_id: str) -> _SessionState:
        row = self._conn.execute(
            "SELECT id, COALESCE(last_seq, 0), op_count, truncated FROM sessions"
            " WHERE session_id = ?",
            (session_id,),
        ).fetchone()
        if row is None:
            raise RecordingError(f"session {session_id!r} was not begun in {self.path}")
        return _SessionState(int(row[0]), int(row[1]), int(row[2]), bool(row[3]))

    def _update_summaries(self, states: dict[str, _SessionState], rows: list[_Row]) -> None:
        for state in states.values():
            mine = rows if len(states) == 1 else [row for row in rows if row[0] == state.rowid]
            first = mine[0][1] if mine else None
            stamps = list(map(_TS_NS, mine))
            first_ts = min(stamps, default=None)
            last_ts = max(stamps, default=None)
            self._conn.execute(
                "UPDATE sessions SET op_count = ?, last_seq = ?, truncated = ?,"
                " oversize_ops = oversize_ops + ?,"
                " first_seq = COALESCE(first_seq, ?), first_ts_ns = COALESCE(first_ts_ns, ?),"
                " last_ts_ns = MAX(COALESCE(last_ts_ns, 0), COALESCE(?, 0)) WHERE id = ?",
                (state.op_count, state.last_seq or None, int(state.truncated), state.oversize,
                 first, first_ts, last_ts, state.rowid),
            )  # fmt: skip
            state.oversize = 0
        combined = Counter(map(_COUNTED, rows))
        counts: Counter[tuple[int, str, str]] = Counter()
        for (session, kind, verb, actor), count in combined.items():
            counts[(session, "kind", kind)] += count
            counts[(session, "verb", verb)] += count
            counts[(session, "actor", actor)] += count
        self._conn.executemany(
            "INSERT INTO session_counts VALUES (?,?,?,?) ON CONFLICT DO UPDATE"
            " SET count = count + excluded.count",
            [(*key, count) for key, count in counts.items()],
        )
        self._update_span_ranges(rows)

    def _update_span_ranges(self, rows: list[_Row]) -> None:
        ranges: dict[tuple[int, int], tuple[int, int]] = {}
        if set(map(_SPAN_ID, rows)) <= {None}:  # no operation in a span
            return
        for row in rows:
            if row[25] is None:
                continue
            key = (row[0], row[25])
            seq = row[1]
            low, high = ranges.get(key, (seq, seq))
            ranges[key] = (min(low, seq), max(high, seq))
        self._conn.executemany(
            "UPDATE spans SET start_seq = MIN(COALESCE(start_seq, ?), ?),"
            " end_seq = MAX(COALESCE(end_seq, 0), ?) WHERE session = ? AND span_id = ?",
            [(low, low, high, key[0], key[1]) for key, (low, high) in ranges.items()],
        )

    # -- reconcile spans ----------------------------------------------------------------
    def next_span_id(self, session_id: str) -> int:
        rowid = self._state(session_id).rowid
        row = self._conn.execute(
            "SELECT COALESCE(MAX(span_id), 0) FROM spans WHERE session = ?", (rowid,)
        ).fetchone()
        return int(row[0]) + 1

    def upsert_spans(self, spans: Sequence[ReconcileSpan]) -> None:
        """Insert spans, or update their end, error and trigger when they exist."""
        if not spans:
            return
        with self._transaction():
            rows = []
            for span in spans:
                rowid = self._state(span.session_id).rowid
                rows.append(
                    (rowid, span.span_id, span.kind, span.namespace, span.name, span.actor,
                     span.thread, span.trigger, span.start_ns, span.end_ns, span.start_seq,
                     span.end_seq, span.error, span.external_id)
                )  # fmt: skip
            self._conn.executemany(
                "INSERT INTO spans VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET"
                " end_ns = excluded.end_ns, error = excluded.error, trigger = excluded.trigger,"
                " start_seq = COALESCE(spans.start_seq, excluded.start_seq),"
                " end_seq = COALESCE(excluded.end_seq, spans.end_seq)",
                rows,
            )

    # -- provenance of imported files --------------------------------------------------
    def put_origins(
        self, session_id: str, item: str, entries: Sequence[tuple[int, dict[str, Any]]]
    ) -> None:
        """Keep original column values of an imported row (``item``: session, op or span)."""
        if item not in ORIGIN_ITEMS:
            raise RecordingError(f"unknown origin item {item!r}")
        if not entries:
            return
        with self._transaction():
            rowid = self._state(session_id).rowid
            self._conn.executemany(
                "INSERT INTO seed_origin VALUES (?,?,?,?) ON CONFLICT DO UPDATE"
                " SET columns = excluded.columns",
                [
                    (rowid, item, key, json.dumps(columns, separators=(",", ":")))
                    for key, columns in entries
                ],
            )

    # -- plumbing -----------------------------------------------------------------------
    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn, self.path, self._forget_cached_ids)

    def _forget_cached_ids(self) -> None:
        # A rolled-back batch may have inserted ids that no longer exist.
        self._objects.clear()
        self._callsites.clear()
        self._callsites_by_identity.clear()
        self._blobs.forget()

    def close(self) -> None:
        try:
            self._leave_wal()
        finally:
            self._conn.close()

    def _leave_wal(self) -> None:
        """The last writer out returns the file to a rollback journal, so that read-only
        openers never have to create ``-wal``/``-shm`` files next to a finished recording."""
        self._conn.execute("PRAGMA busy_timeout = 0")
        try:
            self._conn.execute("PRAGMA journal_mode = DELETE")
        except sqlite3.OperationalError as error:
            _log.debug("%s: kept WAL mode, other connections are open (%s)", self.path, error)

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error."""

    def __init__(
        self, conn: sqlite3.Connection, path: str, on_rollback: Callable[[], None]
    ) -> None:
        self._conn = conn
        self._path = path
        self._on_rollback = on_rollback

    def __enter__(self) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise RecordingError(f"{self._path}: cannot start a write ({error})") from error

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
            return
        self._conn.execute("ROLLBACK")
        self._on_rollback()
        if isinstance(exc, OverflowError):  # the batch is rolled back: nothing of it stays
            raise RecordingError(
                f"{self._path}: a value does not fit SQLite's 64-bit integers ({exc});"
                " nothing of this write was kept"
            ) from exc
