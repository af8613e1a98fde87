"""Reader of the kreplay recording format: read-only, index lookups, lazy bodies."""

from __future__ import annotations

import json
import sqlite3
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from recorder.errors import NotARecordingError, RecordingError, UnknownSessionError
from recorder.storage.api import LimitLog
from recorder.storage.codec import BlobDecoder
from recorder.storage.connection import keyset_rows
from recorder.storage.model import (
    WRITE_VERBS,
    CallFrame,
    ObjectRef,
    Operation,
    ReconcileSpan,
    SessionInfo,
)
from recorder.storage.runs import CALLSITE, OBJECT, RunLookup

PAGE_SIZE = 2000
_JSON_CACHE = 2048

OP_COLUMNS = (
    "seq, ts_ns, verb, event_type, api_version, kind, resource, subresource, namespace, name,"
    " uid, resource_version, generation, patch_type, request_blob, response_blob, status_code,"
    " error_code, error_reason, error_message, duration_us, actor, thread, span_id, callsite_id"
)

# The columns of a full pass that builds no Operation per row (``scan_pages``); the
# object is named by id (``object_key``), so its three strings are read once, not per row.
SCAN_COLUMNS = (
    "seq, ts_ns, verb, event_type, subresource, resource_version, request_blob, response_blob,"
    " status_code, error_code, error_reason, error_message, duration_us, actor, span_id,"
    " object_id"
)
SCAN_PAGE_SIZE = 5000
MAX_ACTORS = 100_000  # distinct actors counted by writes_by_actor


_OP_WITH_RESPONSE = (
    "SELECT "
    + ", ".join(f"o.{name.strip()}" for name in OP_COLUMNS.split(","))
    + ", b.codec, b.base, b.raw_size, b.data FROM ops o"
    " LEFT JOIN blobs b ON b.id = o.response_blob WHERE o.session = ? AND o.seq = ?"
)


def parse_frames(text: str) -> tuple[CallFrame, ...]:
    """``file:line:function`` lines back to frames (file names may contain ':')."""
    frames = []
    for line in text.splitlines()[:64]:
        file, _, rest = line.rpartition(":")
        path, _, number = file.rpartition(":")
        if path and number.isdigit():
            frames.append(CallFrame(path, int(number), rest))
    return tuple(frames)


class KreplayRecording(LimitLog):
    """A kreplay-format file opened read-only; implements ``recorder.storage.api.Recording``."""

    flavor = "kreplay"

    def __init__(self, conn: sqlite3.Connection, path: str, max_ops: int) -> None:
        self.connection = conn
        self.path = path
        self.max_ops = max_ops
        LimitLog.__init__(self)
        self._decoder = BlobDecoder(conn, path)
        self._rowids: dict[str, int] = {}
        self._frames: dict[int, tuple[CallFrame, ...]] = {}
        self._json: OrderedDict[int, Any] = OrderedDict()
        self._lookups: dict[int, RunLookup] = {}

    # -- sessions -----------------------------------------------------------------------
    def sessions(self) -> list[SessionInfo]:
        rows = self.connection.execute("SELECT session_id FROM sessions ORDER BY started_ns, id")
        return [self.session(str(row[0])) for row in rows.fetchall()]

    def session_ids(self) -> list[str]:
        rows = self.connection.execute("SELECT session_id FROM sessions ORDER BY started_ns, id")
        return [str(row[0]) for row in rows.fetchall()]

    def session_rowid(self, session_id: str) -> int:
        cached = self._rowids.get(session_id)
        if cached is not None:
            return cached
        row = self.connection.execute(
            "SELECT id FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        if row is None:
            raise UnknownSessionError(session_id, self.session_ids())
        self._rowids[session_id] = int(row[0])
        return int(row[0])

    def session(self, session_id: str) -> SessionInfo:
        rowid = self.session_rowid(session_id)
        row = self.connection.execute(
            "SELECT session_id, started_ns, ended_ns, operator, cluster, server_version,"
            " recorder_version, labels, op_count, first_seq, last_seq, first_ts_ns, last_ts_ns,"
            " dropped_ops, oversize_ops, truncated FROM sessions WHERE id = ?",
            (rowid,),
        ).fetchone()
        info = SessionInfo(
            session_id=row[0], started_ns=row[1], ended_ns=row[2], operator=row[3],
            cluster=row[4], server_version=row[5], recorder_version=row[6],
            labels=_labels(self.path, row[7]), op_count=row[8], first_seq=row[9], last_seq=row[10],
            first_ts_ns=row[11], last_ts_ns=row[12], dropped_ops=row[13],
            oversize_ops=row[14], truncated=bool(row[15]),
        )  # fmt: skip
        counts = self.connection.execute(
            "SELECT dimension, value, count FROM session_counts WHERE session = ?", (rowid,)
        )
        for dimension, value, count in counts.fetchall():
            target = {"kind": info.kinds, "actor": info.actors, "verb": info.verbs}.get(dimension)
            if target is not None:
                target[str(value)] = int(count)
        if info.op_count > self.max_ops:  # readers serve the first max_ops: say so
            self.note_operation_limit(session_id)
        return info

    def limit_seq(self, session_id: str) -> int | None:
        """The last operation read under the operation limit when the session has more
        than ``max_ops`` (the limit is then noted in ``limit_events``); else None."""
        rows = self.connection.execute(
            "SELECT seq FROM ops WHERE session = ? ORDER BY seq LIMIT 2 OFFSET ?",
            (self.session_rowid(session_id), self.max_ops - 1),
        ).fetchall()
        if len(rows) < 2:
            return None
        self.note_operation_limit(session_id)
        return int(rows[0][0])

    # -- operations ---------------------------------------------------------------------
    def operation(self, session_id: str, seq: int) -> Operation | None:
        # The response body's row comes in the same lookup: body(response_ref) then needs
        # no second query (the commonest access: step to N, show its object).
        row = self.connection.execute(_OP_WITH_RESPONSE, (self.session_rowid(session_id), seq))
        found = row.fetchone()
        if found is None:
            return None
        if found[15] is not None and found[25] is not None:
            self._decoder.prime(found[15], found[25], found[26], found[27], found[28])
        return self._operation(session_id, found)

    def operations(
        self, session_id: str, start_seq: int | None = None, end_seq: int | None = None
    ) -> Iterator[Operation]:
        return self._pages(session_id, start_seq, end_seq, reverse=False)

    def operations_reversed(
        self, session_id: str, start_seq: int | None = None, end_seq: int | None = None
    ) -> Iterator[Operation]:
        return self._pages(session_id, start_seq, end_seq, reverse=True)

    def _pages(
        self, session_id: str, start_seq: int | None, end_seq: int | None, reverse: bool
    ) -> Iterator[Operation]:
        rowid = self.session_rowid(session_id)
        low = -1 if start_seq is None else start_seq
        high = (1 << 62) if end_seq is None else end_seq
        order = "DESC" if reverse else "ASC"
        sql = (
            f"SELECT {OP_COLUMNS} FROM ops WHERE session = ? AND seq BETWEEN ? AND ?"
            f" ORDER BY seq {order} LIMIT {PAGE_SIZE}"
        )
        served = 0
        for _ in range(self.max_ops // PAGE_SIZE + 2):
            rows = self.connection.execute(sql, (rowid, low, high)).fetchall()
            for row in rows:
                if served >= self.max_ops:
                    self.note_operation_limit(session_id)
                    return
                served += 1
                yield self._operation(session_id, row)
            if len(rows) < PAGE_SIZE:
                return
            if reverse:
                high = int(rows[-1][0]) - 1
            else:
                low = int(rows[-1][0]) + 1

    def writes_by_actor(self, session_id: str) -> dict[str, int]:
        """How many write operations each actor made, among the operations ``operations``
        serves (the first ``max_ops``): one grouped pass inside SQLite."""
        rowid = self.session_rowid(session_id)
        last = self.connection.execute(
            "SELECT seq FROM ops WHERE session = ? ORDER BY seq LIMIT 1 OFFSET ?",
            (rowid, self.max_ops - 1),
        ).fetchone()
        verbs = sorted(WRITE_VERBS)
        rows = self.connection.execute(
            f"SELECT actor, COUNT(*) FROM ops WHERE session = ? AND seq <= ?"
            f" AND verb IN ({','.join('?' * len(verbs))}) GROUP BY actor LIMIT {MAX_ACTORS}",
            (rowid, (1 << 62) if last is None else int(last[0]), *verbs),
        ).fetchall()
        return {str(actor): int(count) for actor, count in rows}

    def scan_pages(
        self, session_id: str, page_rows: int = SCAN_PAGE_SIZE
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Every operation of a session in seq order, as pages of raw ``SCAN_COLUMNS`` rows
        (for full passes such as the analysis); stops at ``max_ops`` like ``operations``."""
        if page_rows <= 0:
            raise RecordingError(f"scan pages need at least one row, not {page_rows}")
        rowid = self.session_rowid(session_id)
        sql = (
            f"SELECT {SCAN_COLUMNS} FROM ops WHERE session = ? AND seq > ?"
            f" ORDER BY seq LIMIT {int(page_rows)}"
        )
        low = -(1 << 62)
        served = 0
        for _ in range(self.max_ops // page_rows + 2):
            rows = self.connection.execute(sql, (rowid, low)).fetchall()
            if served + len(rows) > self.max_ops:
                self.note_operation_limit(session_id)
                rows = rows[: self.max_ops - served]
            served += len(rows)
            if rows:
                yield rows
            if len(rows) < page_rows:
                return
            low = int(rows[-1][0])

    def object_keys(self, first_id: int, count: int) -> list[tuple[int, str, str, str]]:
        """(id, kind, namespace, name) of up to ``count`` objects from ``first_id`` on, to
        name ``scan_pages`` rows (ids are given in order of first appearance)."""
        rows = self.connection.execute(
            "SELECT id, kind, namespace, name FROM objects WHERE id >= ? ORDER BY id LIMIT ?",
            (first_id, max(1, count)),
        ).fetchall()
        return [(int(row[0]), str(row[1]), str(row[2]), str(row[3])) for row in rows]

    def next_seq(self, session_id: str, seq: int) -> int | None:
        row = self.connection.execute(
            "SELECT MIN(seq) FROM ops WHERE session = ? AND seq > ?",
            (self.session_rowid(session_id), seq),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def prev_seq(self, session_id: str, seq: int) -> int | None:
        row = self.connection.execute(
            "SELECT MAX(seq) FROM ops WHERE session = ? AND seq < ?",
            (self.session_rowid(session_id), seq),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    # -- objects ------------------------------------------------------------------------
    def object_id_of(self, session_id: str, seq: int) -> int | None:
        row = self.connection.execute(
            "SELECT object_id FROM ops WHERE session = ? AND seq = ?",
            (self.session_rowid(session_id), seq),
        ).fetchone()
        return None if row is None else int(row[0])

    def object_id(self, session_id: str, ref: ObjectRef) -> int | None:
        row = self.connection.execute(
            "SELECT id FROM objects WHERE session = ? AND kind = ? AND namespace = ? AND name = ?",
            (self.session_rowid(session_id), ref.kind, ref.namespace, ref.name),
        ).fetchone()
        return None if row is None else int(row[0])

    def object_neighbor(self, session_id: str, seq: int, forward: bool) -> Operation | None:
        object_id = self.object_id_of(session_id, seq)
        if object_id is None:
            return None
        found = self._runs(session_id).rows(OBJECT, (object_id,), OP_COLUMNS, seq, forward=forward)
        return self._operation(session_id, found[0]) if found else None

    def object_operations(
        self, session_id: str, ref: ObjectRef, start_seq: int | None = None, reverse: bool = False
    ) -> Iterator[Operation]:
        object_id = self.object_id(session_id, ref)
        if object_id is None:
            return iter(())
        return self._object_pages(session_id, object_id, start_seq, reverse)

    def _object_pages(
        self, session_id: str, object_id: int, start_seq: int | None, reverse: bool
    ) -> Iterator[Operation]:
        bound = start_seq if start_seq is not None else ((1 << 62) if reverse else -1)
        lookup = self._runs(session_id)
        inclusive = True
        for _ in range(self.max_ops // PAGE_SIZE + 2):
            rows = lookup.rows(
                OBJECT, (object_id,), OP_COLUMNS, bound, forward=not reverse,
                inclusive=inclusive, limit=PAGE_SIZE,
            )  # fmt: skip
            for row in rows:
                yield self._operation(session_id, row)
            if len(rows) < PAGE_SIZE:
                return
            bound, inclusive = int(rows[-1][0]), False

    def _runs(self, session_id: str) -> RunLookup:
        rowid = self.session_rowid(session_id)
        found = self._lookups.get(rowid)
        if found is None:
            found = self._lookups[rowid] = RunLookup(self.connection, rowid)
        return found

    def objects(self, session_id: str) -> Iterator[ObjectRef]:
        rows = self.connection.execute(
            "SELECT kind, namespace, name FROM objects WHERE session = ? ORDER BY id",
            (self.session_rowid(session_id),),
        )
        for kind, namespace, name in rows:
            yield ObjectRef(kind, namespace, name)

    # -- spans and call sites -----------------------------------------------------------
    def spans(self, session_id: str) -> Iterator[ReconcileSpan]:
        rows = self.connection.execute(
            f"SELECT {_SPAN_COLUMNS} FROM spans WHERE session = ? ORDER BY start_ns, span_id",
            (self.session_rowid(session_id),),
        )
        for row in rows:
            yield _span(session_id, row)

    def span(self, session_id: str, span_id: int) -> ReconcileSpan | None:
        row = self.connection.execute(
            f"SELECT {_SPAN_COLUMNS} FROM spans WHERE session = ? AND span_id = ?",
            (self.session_rowid(session_id), span_id),
        ).fetchone()
        return None if row is None else _span(session_id, row)

    def callsite_files(self, session_id: str) -> list[str]:
        lookup = self._runs(session_id)
        used = (
            "SELECT 1 FROM callsite_runs r WHERE r.session = ? AND r.callsite_id = c.id"
            if lookup.has_runs
            else "SELECT 1 FROM ops o WHERE o.callsite_id = c.id AND o.session = ?"
        )
        rows = self.connection.execute(
            f"SELECT DISTINCT c.file FROM callsites c WHERE EXISTS ({used}) ORDER BY c.file",
            (lookup.session,),
        )
        return [str(row[0]) for row in rows.fetchall()]

    def callsite_operations(self, session_id: str, file: str) -> Iterator[Operation]:
        lookup = self._runs(session_id)
        ids = [
            int(row[0])
            for row in self.connection.execute("SELECT id FROM callsites WHERE file = ?", (file,))
        ]
        members = lookup.members_sql(CALLSITE, 2)
        for callsite_id in ids:
            rows = self.connection.execute(
                f"SELECT {OP_COLUMNS} FROM ops WHERE session = ? AND {members} ORDER BY seq",
                (lookup.session, lookup.session, callsite_id),
            )
            for row in rows:
                yield self._operation(session_id, row)

    # -- provenance of imported files --------------------------------------------------
    def origins(
        self, session_id: str, item: str, start_key: int | None = None
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """Original Go-tool column values kept by an import, in key order (seq for ops)."""
        rowid = self.session_rowid(session_id)
        if not self._has_origins():
            return
        sql = (
            "SELECT key, columns FROM seed_origin WHERE session = ? AND item = ? AND key >= ?"
            f" ORDER BY key LIMIT {PAGE_SIZE}"
        )
        rows = keyset_rows(self.connection, sql, (rowid, item), start_key, self.max_ops, PAGE_SIZE)
        for key, text in rows:
            yield int(key), _origin_columns(self.path, text)

    def _has_origins(self) -> bool:
        row = self.connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'seed_origin'"
        ).fetchone()
        return row is not None

    # -- bodies -------------------------------------------------------------------------
    def body(self, ref: int | None) -> bytes | None:
        return None if ref is None else self._decoder.load(ref)

    def body_json(self, ref: int | None) -> Any:
        """Decoded JSON, cached: callers must treat the result as read-only."""
        if ref is None:
            return None
        cached = self._json.get(ref)
        if cached is not None:
            self._json.move_to_end(ref)
            return cached
        try:
            value = json.loads(self._decoder.load(ref))
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            return None
        self._json[ref] = value
        if len(self._json) > _JSON_CACHE:
            self._json.popitem(last=False)
        return value

    def close(self) -> None:
        self.connection.close()

    def _operation(self, session_id: str, row: tuple[Any, ...]) -> Operation:
        # Positional (the field order of Operation; bodies stay None, refs go last): this
        # runs once per operation read, and keywords cost twice as much.
        return Operation(
            session_id, row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
            row[9], row[10], row[11], row[12], row[13], None, None, row[16], row[17], row[18],
            row[19], row[20], row[21], row[22], row[23], self._call_site(row[24]), row[14],
            row[15],
        )  # fmt: skip

    def _call_site(self, callsite_id: int | None) -> tuple[CallFrame, ...]:
        if callsite_id is None:
            return ()
        cached = self._frames.get(callsite_id)
        if cached is not None:
            return cached
        row = self.connection.execute(
            "SELECT frames FROM callsites WHERE id = ?", (callsite_id,)
        ).fetchone()
        if row is None:
            raise NotARecordingError(f"{self.path}: call site {callsite_id} missing (corrupt file)")
        frames = parse_frames(str(row[0]))
        self._frames[callsite_id] = frames
        return frames


_SPAN_COLUMNS = (
    "span_id, kind, namespace, name, actor, thread, trigger, start_ns, end_ns, start_seq,"
    " end_seq, error, external_id"
)


def _span(session_id: str, row: tuple[Any, ...]) -> ReconcileSpan:
    return ReconcileSpan(
        session_id=session_id, span_id=row[0], kind=row[1], namespace=row[2], name=row[3],
        actor=row[4], thread=row[5], trigger=row[6], start_ns=row[7], end_ns=row[8],
        start_seq=row[9], end_seq=row[10], error=row[11], external_id=row[12],
    )  # fmt: skip


def _origin_columns(path: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise NotARecordingError(f"{path}: corrupt seed_origin row ({error})") from error
    if not isinstance(value, dict):
        raise NotARecordingError(f"{path}: corrupt seed_origin row (not an object)")
    return value


def _labels(path: str, text: str) -> dict[str, str]:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise NotARecordingError(f"{path}: corrupt session labels ({error})") from error
    if not isinstance(value, dict):
        raise NotARecordingError(f"{path}: corrupt session labels (not a JSON object)")
    return {str(key): str(item) for key, item in value.items()}
