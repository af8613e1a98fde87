"""Reader of the original Go tool's SQLite files, both schemas, read-only and unconverted.

seed-v1: ``operations`` (session_id, sequence_number, timestamp in Unix seconds,
operation_type, resource_kind, namespace, name, resource_data, error, duration_ms).
seed-v2 adds actor_id, uid, resource_version, generation and verb columns and a
``reconcile_spans`` table. Each row's ``id`` doubles as the handle of its body.

Operations are numbered by ``sequence_number``. A session in which the Go tool wrote one
number twice is numbered by the rows' ``id`` instead (unique, in the order written), so that
stepping and lookups show every operation; ``kreplay import`` renumbers such sessions.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from recorder.errors import NotARecordingError, UnknownSessionError
from recorder.storage.api import LimitLog
from recorder.storage.connection import keyset_rows
from recorder.storage.model import ObjectRef, Operation, ReconcileSpan, SessionInfo
from recorder.storage.seed import MAX_MILLISECONDS, MAX_SECONDS, span_time_ns

PAGE_SIZE = 2000
_JSON_CACHE = 1024
_ERROR_CODES = (
    (re.compile(r"\b409\b|conflict|already exists|cannot be fulfilled|been modified", re.I), 409),
    (re.compile(r"\b404\b|not found", re.I), 404),
    (re.compile(r"\b403\b|forbidden", re.I), 403),
    (re.compile(r"\b401\b|unauthorized", re.I), 401),
    (re.compile(r"\b422\b|invalid", re.I), 422),
    (re.compile(r"\b429\b|too many requests", re.I), 429),
    (re.compile(r"\b410\b|gone|expired", re.I), 410),
    (re.compile(r"timeout|deadline", re.I), 504),
)


# "<code> <Reason>: <message>": what a seed export writes (``seed.error_text``).
_CODED_ERROR = re.compile(r"([1-5][0-9][0-9]) ([A-Z][A-Za-z]{0,63})(?:: (.*))?", re.DOTALL)


def infer_error_code(message: str) -> int:
    """The Go tool kept errors as text; recover the HTTP code, else call it a 500."""
    for pattern, code in _ERROR_CODES:
        if pattern.search(message):
            return code
    return 500


def parse_error_text(text: str) -> tuple[int, str, str]:
    """(code, reason, message) of the Go tool's error text: ``409 Conflict: ...`` (as a
    seed export writes it) gives its parts; other text keeps the whole message, with the
    code inferred from it."""
    found = _CODED_ERROR.fullmatch(text)
    if found is not None:
        return int(found.group(1)), found.group(2), found.group(3) or ""
    return infer_error_code(text), "", text


_MAX_KEYED_SESSIONS = 10_000


class SeedRecording(LimitLog):
    """A file written by the Go tool (``replay-cli``); implements the ``Recording`` protocol."""

    def __init__(self, conn: sqlite3.Connection, path: str, max_ops: int) -> None:
        self.connection = conn
        self.path = path
        self.max_ops = max_ops
        LimitLog.__init__(self)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(operations)").fetchall()}
        self.has_v2 = {"actor_id", "uid", "resource_version", "generation", "verb"} <= columns
        self.flavor = "seed-v2" if self.has_v2 else "seed-v1"
        self._extra = (
            "actor_id, uid, resource_version, generation, verb"
            if self.has_v2
            else "NULL, NULL, NULL, NULL, NULL"
        )
        # After the sequence column (``_key``): the Operation's fields, body ref = row id.
        self._rest = (
            "timestamp, operation_type, resource_kind, namespace, name, error, duration_ms, id,"
            f" {self._extra}"
        )
        self._keys: dict[str, str] = {}
        self._spans_table = _has_table(conn, "reconcile_spans")
        self._json: OrderedDict[int, Any] = OrderedDict()

    def session_ids(self) -> list[str]:
        rows = self.connection.execute(
            "SELECT DISTINCT session_id FROM operations ORDER BY session_id"
        )
        return [str(row[0]) for row in rows.fetchall()]

    def _require(self, session_id: str) -> None:
        row = self.connection.execute(
            "SELECT 1 FROM operations WHERE session_id = ? LIMIT 1", (session_id,)
        ).fetchone()
        if row is None:
            raise UnknownSessionError(session_id, self.session_ids())

    def sessions(self) -> list[SessionInfo]:
        return [self.session(session_id) for session_id in self.session_ids()]

    def session(self, session_id: str) -> SessionInfo:
        self._require(session_id)
        key = self._key(session_id)
        first, last, first_ts, last_ts, bad = self.connection.execute(
            f"SELECT MIN({key}), MAX({key}), MIN(timestamp), MAX(timestamp),"
            f" SUM(typeof({key}) != 'integer' OR typeof(timestamp) NOT IN ('integer', 'real')"
            f" OR ABS(timestamp) > {MAX_SECONDS}) FROM operations WHERE session_id = ?",
            (session_id,),
        ).fetchone()
        if bad:  # a sequence number or a timestamp no step can be placed by
            self._refuse_bad_row(session_id)
        info = SessionInfo(
            session_id=session_id,
            started_ns=_seconds_ns(first_ts),
            ended_ns=_seconds_ns(last_ts),
            op_count=int(last) - int(first) + 1,
            first_seq=int(first),
            last_seq=int(last),
            first_ts_ns=_seconds_ns(first_ts),
            last_ts_ns=_seconds_ns(last_ts),
            recorder_version=f"replay-cli ({self.flavor})",
        )
        self._fill_counts(session_id, info)
        return info

    def _refuse_bad_row(self, session_id: str, row_id: int | None = None) -> None:
        """Raise a one-line error naming the first row of the session (or row ``row_id``)
        with a value that cannot be read as our column (``kreplay verify`` lists them all)."""
        key = self._key(session_id)
        generation = "generation" if self.has_v2 else "NULL"
        row = self.connection.execute(
            f"SELECT id, {key}, timestamp, duration_ms, {generation} FROM operations"
            " WHERE session_id = ? AND (id = ? OR ? IS NULL) AND"
            f" (typeof({key}) != 'integer' OR typeof(timestamp) NOT IN ('integer', 'real')"
            f" OR ABS(timestamp) > {MAX_SECONDS} OR typeof(duration_ms) IN ('text', 'blob')"
            f" OR ABS(duration_ms) > {MAX_MILLISECONDS}"
            f" OR typeof({generation}) NOT IN ('integer', 'null')) ORDER BY id LIMIT 1",
            (session_id, row_id, row_id),
        ).fetchone()
        if row is None:
            raise NotARecordingError(f"{self.path}: session {session_id!r}: unreadable values")
        columns = (key, "timestamp", "duration_ms", "generation")
        checks = (_is_integer, _is_seconds, _is_milliseconds, _is_integer_or_null)
        for column, value, valid in zip(columns, row[1:], checks, strict=True):
            if not valid(value):
                shown = repr(value)[:60]
                raise NotARecordingError(
                    f"{self.path}: operations row {row[0]} (session {session_id!r}): {column}"
                    f" {shown} is not {_MEANINGS[column]}; 'kreplay verify' lists such values"
                )
        raise NotARecordingError(f"{self.path}: operations row {row[0]}: unreadable values")

    def _fill_counts(self, session_id: str, info: SessionInfo) -> None:
        # The Go schema has no summary table: one grouped pass, bounded by the op cap.
        actor = "COALESCE(actor_id, '')" if self.has_v2 else "''"
        rows = self.connection.execute(
            f"SELECT resource_kind, LOWER(operation_type), {actor}, COUNT(*) FROM"
            f" (SELECT * FROM operations WHERE session_id = ? LIMIT {self.max_ops})"
            " GROUP BY 1, 2, 3",
            (session_id,),
        )
        for kind, verb, actor_name, count in rows.fetchall():
            info.kinds[kind] = info.kinds.get(kind, 0) + count
            info.verbs[verb] = info.verbs.get(verb, 0) + count
            info.actors[actor_name] = info.actors.get(actor_name, 0) + count
        info.op_count = sum(info.kinds.values())
        # At the limit: over it only when one more operation exists (one lookup past it).
        if info.op_count >= self.max_ops and self.limit_seq(session_id) is not None:
            info.truncated = True

    def limit_seq(self, session_id: str) -> int | None:
        """The last operation read under the operation limit when the session has more
        than ``max_ops`` (the limit is then noted in ``limit_events``); else None."""
        key = self._key(session_id)
        rows = self.connection.execute(
            f"SELECT {key} FROM operations WHERE session_id = ? ORDER BY {key} LIMIT 2 OFFSET ?",
            (session_id, self.max_ops - 1),
        ).fetchall()
        if len(rows) < 2:
            return None
        self.note_operation_limit(session_id)
        return int(rows[0][0])

    def _key(self, session_id: str) -> str:
        """The column that numbers the session's operations: ``sequence_number``, or the
        row ``id`` when the Go tool wrote a sequence number twice (so that no operation is
        hidden behind another with the same number; ``kreplay import`` renumbers instead)."""
        found = self._keys.get(session_id)
        if found is None:
            repeated = self.connection.execute(
                "SELECT 1 FROM operations WHERE session_id = ? GROUP BY sequence_number"
                " HAVING COUNT(*) > 1 LIMIT 1",
                (session_id,),
            ).fetchone()
            if len(self._keys) >= _MAX_KEYED_SESSIONS:
                self._keys.clear()
            found = self._keys[session_id] = "id" if repeated else "sequence_number"
        return found

    def _select(self, session_id: str) -> tuple[str, str]:
        """(the sequence column, ``SELECT ... FROM operations`` with it first)."""
        key = self._key(session_id)
        return key, f"SELECT {key}, {self._rest} FROM operations"

    def operation(self, session_id: str, seq: int) -> Operation | None:
        key, select = self._select(session_id)
        row = self.connection.execute(
            f"{select} WHERE session_id = ? AND {key} = ? LIMIT 1", (session_id, seq)
        ).fetchone()
        return None if row is None else self._operation(session_id, row)

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
        low = -(1 << 62) if start_seq is None else start_seq
        high = (1 << 62) if end_seq is None else end_seq
        order = "DESC" if reverse else "ASC"
        key, select = self._select(session_id)
        sql = (
            f"{select} WHERE session_id = ? AND {key} BETWEEN ? AND ? ORDER BY {key} {order}"
            f" LIMIT {PAGE_SIZE}"
        )
        served = 0
        for _ in range(self.max_ops // PAGE_SIZE + 2):
            rows = self.connection.execute(sql, (session_id, low, high)).fetchall()
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

    def next_seq(self, session_id: str, seq: int) -> int | None:
        key = self._key(session_id)
        row = self.connection.execute(
            f"SELECT MIN({key}) FROM operations WHERE session_id = ? AND {key} > ?",
            (session_id, seq),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def prev_seq(self, session_id: str, seq: int) -> int | None:
        key = self._key(session_id)
        row = self.connection.execute(
            f"SELECT MAX({key}) FROM operations WHERE session_id = ? AND {key} < ?",
            (session_id, seq),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def object_neighbor(self, session_id: str, seq: int, forward: bool) -> Operation | None:
        current = self.operation(session_id, seq)
        if current is None:
            return None
        comparison, order = (">", "ASC") if forward else ("<", "DESC")
        key, select = self._select(session_id)
        row = self.connection.execute(
            f"{select} WHERE resource_kind = ?"
            " AND COALESCE(namespace, '') = ? AND COALESCE(name, '') = ? AND session_id = ?"
            f" AND {key} {comparison} ? ORDER BY {key} {order} LIMIT 1",
            (current.kind, current.namespace, current.name, session_id, seq),
        ).fetchone()
        return None if row is None else self._operation(session_id, row)

    def object_operations(
        self, session_id: str, ref: ObjectRef, start_seq: int | None = None, reverse: bool = False
    ) -> Iterator[Operation]:
        comparison, order = ("<=", "DESC") if reverse else (">=", "ASC")
        bound = start_seq if start_seq is not None else ((1 << 62) if reverse else -(1 << 62))
        key, select = self._select(session_id)
        rows = self.connection.execute(
            f"{select} WHERE resource_kind = ?"
            " AND COALESCE(namespace, '') = ? AND COALESCE(name, '') = ? AND session_id = ?"
            f" AND {key} {comparison} ? ORDER BY {key} {order} LIMIT {self.max_ops}",
            (ref.kind, ref.namespace, ref.name, session_id, bound),
        )
        for row in rows:
            yield self._operation(session_id, row)

    def origins(
        self, session_id: str, item: str, start_key: int | None = None
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """The Go tool's own sequence numbers of a session numbered by row id (``_key``),
        in seq order, so that exports write them back; nothing for other sessions."""
        if item != "op" or self._key(session_id) != "id":
            return
        sql = (
            "SELECT id, sequence_number FROM operations WHERE session_id = ? AND id >= ?"
            f" ORDER BY id LIMIT {PAGE_SIZE}"
        )
        rows = keyset_rows(self.connection, sql, (session_id,), start_key, self.max_ops, PAGE_SIZE)
        for row_id, number in rows:
            yield int(row_id), {"sequence_number": number}

    def objects(self, session_id: str) -> Iterator[ObjectRef]:
        rows = self.connection.execute(
            "SELECT DISTINCT resource_kind, COALESCE(namespace, ''), COALESCE(name, '')"
            f" FROM operations WHERE session_id = ? LIMIT {self.max_ops}",
            (session_id,),
        )
        for kind, namespace, name in rows:
            yield ObjectRef(kind, namespace, name)

    def spans(self, session_id: str) -> Iterator[ReconcileSpan]:
        if not self._spans_table:
            return
        rows = self.connection.execute(
            "SELECT rowid, id, actor_id, start_ts, end_ts, kind, COALESCE(namespace, ''),"
            " COALESCE(name, ''), COALESCE(trigger_reason, ''), COALESCE(error, '')"
            f" FROM reconcile_spans WHERE session_id = ? ORDER BY start_ts LIMIT {self.max_ops}",
            (session_id,),
        )
        for row in rows:
            yield ReconcileSpan(
                session_id=session_id, span_id=int(row[0]), external_id=str(row[1]),
                actor=str(row[2] or ""), start_ns=_to_ns(row[3], self.path, row[1]) or 0,
                end_ns=_to_ns(row[4], self.path, row[1]),
                kind=str(row[5]), namespace=row[6], name=row[7], trigger=row[8], error=row[9],
            )  # fmt: skip

    def span(self, session_id: str, span_id: int) -> ReconcileSpan | None:
        for span in self.spans(session_id):
            if span.span_id == span_id:
                return span
        return None

    def callsite_files(self, session_id: str) -> list[str]:
        return []  # the Go tool never recorded call sites

    def callsite_operations(self, session_id: str, file: str) -> Iterator[Operation]:
        return iter(())

    def body(self, ref: int | None) -> bytes | None:
        if ref is None:
            return None
        row = self.connection.execute(
            "SELECT resource_data FROM operations WHERE id = ?", (ref,)
        ).fetchone()
        if row is None or row[0] is None or row[0] == "":
            return None
        data = row[0]
        return data.encode() if isinstance(data, str) else bytes(data)

    def body_json(self, ref: int | None) -> Any:
        if ref is None:
            return None
        if ref in self._json:
            self._json.move_to_end(ref)
            return self._json[ref]
        data = self.body(ref)
        try:
            value = None if data is None else json.loads(data)
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            value = None
        self._json[ref] = value
        if len(self._json) > _JSON_CACHE:
            self._json.popitem(last=False)
        return value

    def close(self) -> None:
        self.connection.close()

    def _operation(self, session_id: str, row: tuple[Any, ...]) -> Operation:
        seq, stamp, duration, generation = row[0], row[1], row[7] or 0, row[12]
        valid = (seq.__class__ is int and stamp.__class__ is int and duration.__class__ is int
                 and -MAX_SECONDS <= stamp <= MAX_SECONDS
                 and -MAX_MILLISECONDS <= duration <= MAX_MILLISECONDS
                 and (generation is None or generation.__class__ is int)) or (
            _is_integer(seq) and _is_seconds(stamp) and _is_milliseconds(duration)
            and _is_integer_or_null(generation))  # fmt: skip
        if not valid:
            self._refuse_bad_row(session_id, int(row[8]))
        error = str(row[6] or "")
        code, reason, message = parse_error_text(error) if error else (0, "", "")
        verb = str(row[13] or row[2] or "").lower()
        return Operation(
            session_id=session_id, seq=seq, ts_ns=_seconds_ns(stamp), verb=verb,
            kind=str(row[3] or ""), namespace=str(row[4] or ""), name=str(row[5] or ""),
            error_code=code, error_reason=reason, error_message=message, status_code=0,
            duration_us=round(duration * 1000), response_ref=int(row[8]),
            actor=str(row[9] or ""), uid=str(row[10] or ""), resource_version=str(row[11] or ""),
            generation=generation,
        )  # fmt: skip


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


# Our times and durations are 64-bit integers of nanoseconds and microseconds.
_MEANINGS = {
    "sequence_number": "an integer",
    "id": "an integer",
    "timestamp": f"a number of Unix seconds (at most {MAX_SECONDS})",
    "duration_ms": f"a number of milliseconds (at most {MAX_MILLISECONDS})",
    "generation": "an integer",
}


def _is_integer(value: object) -> bool:
    return value.__class__ is int


def _is_integer_or_null(value: object) -> bool:
    return value is None or value.__class__ is int


def _is_seconds(value: object) -> bool:
    return isinstance(value, int | float) and abs(value) <= MAX_SECONDS


def _is_milliseconds(value: object) -> bool:
    return isinstance(value, int | float) and abs(value) <= MAX_MILLISECONDS


def _seconds_ns(value: float) -> int:
    """Unix seconds (an integer, or a number with a fraction) in nanoseconds."""
    if value.__class__ is int:
        return int(value) * 1_000_000_000
    return round(value * 1_000_000_000)


def _to_ns(value: object, path: str, span: object) -> int | None:
    """Span times in the Go files may be seconds, milliseconds or nanoseconds."""
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise NotARecordingError(
            f"{path}: reconcile span {span!r}: time {repr(value)[:60]} is not a number;"
            " 'kreplay verify' lists such values"
        )
    number = round(value)
    found = span_time_ns(number)
    if found is None:
        raise NotARecordingError(
            f"{path}: reconcile span {span!r}: time {number} is out of range for Unix"
            " seconds, milliseconds or nanoseconds"
        )
    return found
