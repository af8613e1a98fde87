"""``import_recording``: a Go-tool file (either schema) or a JSON-lines export into ours.

Seed rows are streamed in (session, sequence_number, id) order through one cursor and
written in batches. For each row, the Go tool's column values that ``seed.seed_op_row``
would not give back are kept in ``seed_origin``, so exporting to the seed schema
reproduces every column of every row.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from recorder.collector import fewer_collections
from recorder.errors import InvalidInputError, NotARecordingError, RecordingError
from recorder.storage import jsonl
from recorder.storage.connection import open_read_only
from recorder.storage.legacy import infer_error_code
from recorder.storage.model import VERBS, WATCH_EVENT_TYPES, Operation, ReconcileSpan, SessionInfo
from recorder.storage.seed import (
    NS_PER_S,
    SPAN_COLUMNS,
    V1_OP_COLUMNS,
    V2_OP_COLUMNS,
    overrides,
    same_values,
    seed_op_values,
    seed_span_row,
)
from recorder.storage.writer import AppendResult, RecordingWriter

BATCH = 20_000  # large transactions: each index page is written once per batch
MAX_SOURCE_ROWS = 1 << 40
MAX_SPANS = 10_000_000

Progress = Callable[[int, int], None]  # (done, total) in the unit the source counts in


@dataclass
class ImportReport:
    """What an import did: counts per session and the bound events it hit."""

    source_format: str = ""
    sessions: list[str] = field(default_factory=list)
    operations: int = 0
    spans: int = 0
    over_cap: int = 0
    oversize: int = 0

    def add(self, result: AppendResult) -> None:
        self.operations += result.written
        self.over_cap += result.over_cap
        self.oversize += result.oversize


def import_recording(
    source: str,
    destination: str,
    *,
    max_ops: int,
    max_object_bytes: int = 1 << 20,
    progress: Progress | None = None,
) -> ImportReport:
    """Import ``source`` into ``destination`` (created or appended to)."""
    if os.path.isdir(source) or not os.path.exists(source):
        raise InvalidInputError(f"{source}: no such file to import")
    if os.path.abspath(source) == os.path.abspath(destination):
        raise InvalidInputError("the source and the destination are the same file")
    with open(source, "rb") as handle:
        is_sqlite = handle.read(16) == b"SQLite format 3\x00"
    writer = RecordingWriter(destination, max_ops=max_ops, max_object_bytes=max_object_bytes)
    try:
        with fewer_collections():
            if is_sqlite:
                return SeedImporter(source, writer, progress).run()
            return JsonLinesImporter(source, writer, progress).run()
    finally:
        writer.close()


def _text(value: Any) -> str:
    if value.__class__ is str:
        return value
    return "" if value is None else str(value)


def _integer(value: Any) -> int:
    if value.__class__ is int:
        return value
    try:
        return int(str(value))
    except ValueError:
        return 0  # the original value is kept in seed_origin


def _verb(verb: Any, operation_type: Any) -> tuple[str, str]:
    """(our verb, watch event type) from the Go tool's verb and operation_type columns."""
    if verb.__class__ is str and verb in VERBS:
        return verb, ""
    for candidate in (_text(verb), _text(operation_type)):
        if candidate.lower() in VERBS:
            return candidate.lower(), ""
        if candidate.upper() in WATCH_EVENT_TYPES:
            return "watch", candidate.upper()
    return _text(operation_type).lower() or "get", ""


class SeedImporter:
    """Streams the Go tool's ``operations`` and ``reconcile_spans`` into a writer."""

    def __init__(self, source: str, writer: RecordingWriter, progress: Progress | None) -> None:
        self.source = source
        self.writer = writer
        self.progress = progress
        self.conn = open_read_only(source)
        self.report = ImportReport()
        self.columns: tuple[str, ...] = V1_OP_COLUMNS
        self._session = ""
        self._session_key: Any = None
        self._seq_offset = 0  # subtracted from the Go tool's sequence numbers
        self._id_offset = 0  # added to our seq to give back the Go tool's row id
        self._last_seq = 0
        self._rows_done = 0

    def run(self) -> ImportReport:
        try:
            self._detect()
            total = self._estimate_rows()
            # Bodies come as bytes: no decode here and encode again for the writer.
            selected = ", ".join(
                "CAST(resource_data AS BLOB)" if name == "resource_data" else name
                for name in self.columns
            )
            cursor = self.conn.execute(
                f"SELECT {selected} FROM operations ORDER BY session_id, sequence_number, id"
            )
            for _ in range(MAX_SOURCE_ROWS // BATCH + 1):
                rows = cursor.fetchmany(BATCH)
                if not rows:
                    break
                self._batch(rows)
                if self.progress is not None:
                    self.progress(self._rows_done, total)
            self._finish_session()
        except sqlite3.DatabaseError as error:
            raise NotARecordingError(f"{self.source}: corrupt or truncated ({error})") from error
        finally:
            self.conn.close()
        return self.report

    def _detect(self) -> None:
        try:
            names = {row[1] for row in self.conn.execute("PRAGMA table_info(operations)")}
        except sqlite3.DatabaseError as error:
            raise NotARecordingError(f"{self.source}: corrupt SQLite file ({error})") from error
        if not names and self._is_kreplay():
            raise InvalidInputError(
                f"{self.source}: already a kreplay recording, nothing to import"
            )
        if not set(V1_OP_COLUMNS) <= names:
            raise NotARecordingError(
                f"{self.source}: not a replay-cli recording (no 'operations' table with the"
                " Go tool's columns)"
            )
        v2 = set(V2_OP_COLUMNS) <= names
        self.columns = V2_OP_COLUMNS if v2 else V1_OP_COLUMNS
        self.report.source_format = "seed-v2" if v2 else "seed-v1"

    def _is_kreplay(self) -> bool:
        return {"schema_migrations", "ops"} <= self._tables()

    def _estimate_rows(self) -> int:
        row = self.conn.execute("SELECT MAX(id) FROM operations").fetchone()
        return int(row[0] or 0)

    def _batch(self, rows: list[tuple[Any, ...]]) -> None:
        ops: list[Operation] = []
        origins: list[tuple[int, dict[str, Any]]] = []
        seq_offset, id_offset = self._seq_offset, self._id_offset
        convert, keep = self._operation, ops.append
        for values in rows:
            if values[1] != self._session_key:
                self._flush(ops, origins)
                self._finish_session()
                self._start_session(dict(zip(self.columns, values, strict=True)))
                seq_offset, id_offset = self._seq_offset, self._id_offset
            op = convert(values)
            keep(op)
            # resource_data is kept as the body, byte for byte, and exported as text.
            derived = seed_op_values(op, values[8], op.seq + id_offset, seq_offset)
            if not same_values(derived, values):
                kept = overrides(
                    dict(zip(V2_OP_COLUMNS, derived, strict=True)),
                    dict(zip(self.columns, values, strict=True)),
                )
                origins.append((op.seq, kept))
        self._rows_done += len(rows)
        self._flush(ops, origins)

    def _operation(self, values: tuple[Any, ...]) -> Operation:
        """One Go-tool row (``self.columns`` order) as our operation."""
        (_, _, number, timestamp, operation_type, kind, namespace, name, data, error,
         duration_ms) = values[:11]  # fmt: skip
        actor, uid, resource_version, generation, verb = values[11:] or (None,) * 5
        seq = (number if number.__class__ is int else _integer(number)) - self._seq_offset
        if seq <= self._last_seq:  # duplicate sequence numbers: keep order, renumber
            seq = self._last_seq + 1
        self._last_seq = seq
        error = error if error.__class__ is str else _text(error)
        event_type = ""
        if verb.__class__ is not str or verb not in VERBS:
            verb, event_type = _verb(verb, operation_type)
        body = None if data is None else bytes(data)
        stamp = timestamp if timestamp.__class__ is int else _integer(timestamp)
        # Positional, in Operation's field order, and the type tests inlined: once per row.
        return Operation(
            self._session, seq, stamp * NS_PER_S, verb, event_type, "",
            kind if kind.__class__ is str else _text(kind), "", "",
            namespace if namespace.__class__ is str else _text(namespace),
            name if name.__class__ is str else _text(name),
            uid if uid.__class__ is str else _text(uid),
            resource_version if resource_version.__class__ is str else _text(resource_version),
            None if generation is None else _integer(generation), "", None, body, 0,
            infer_error_code(error) if error else 0, "", error, _integer(duration_ms) * 1000,
            actor if actor.__class__ is str else _text(actor),
        )  # fmt: skip

    def _start_session(self, first: dict[str, Any]) -> None:
        session_id = _text(first["session_id"])
        number = _integer(first["sequence_number"])
        seq_offset = min(number - 1, 0)  # sequence numbers from 1 stay as they were
        self._seq_offset, self._id_offset = seq_offset, _integer(first["id"]) - 1
        self._session, self._last_seq = session_id, 0
        self._session_key = first["session_id"]  # as stored, whatever its SQLite type
        if session_id in self._existing_sessions():
            raise InvalidInputError(
                f"session {session_id!r} already exists in {self.writer.path}; import into"
                " another file"
            )
        started = _integer(first["timestamp"]) * NS_PER_S
        label = {"imported_from": os.path.basename(self.source)}
        label["source_format"] = self.report.source_format
        self.writer.begin_session(
            SessionInfo(session_id, started_ns=started, recorder_version="replay-cli", labels=label)
        )
        if started == 0:  # begin_session reads 0 as "now"; the file says the epoch
            self.writer.update_session(session_id, started_ns=0)
        offsets = {"seq_offset": self._seq_offset, "id_offset": self._id_offset}
        self.writer.put_origins(session_id, "session", [(0, offsets)])
        self.report.sessions.append(session_id)

    def _existing_sessions(self) -> set[str]:
        return self.writer.session_ids()

    def _flush(self, ops: list[Operation], origins: list[tuple[int, dict[str, Any]]]) -> None:
        if not ops:
            return
        result = self.writer.append(ops)
        self.report.add(result)
        last = result.last_seq or 0
        self.writer.put_origins(self._session, "op", [kept for kept in origins if kept[0] <= last])
        ops.clear()
        origins.clear()

    def _finish_session(self) -> None:
        if not self._session:
            return
        info = self.writer.session_summary(self._session)
        self.writer.update_session(self._session, ended_ns=info.last_ts_ns)
        self._import_spans(self._session)
        self._session = ""

    def _import_spans(self, session_id: str) -> None:
        if "reconcile_spans" not in self._tables():
            return
        rows = self.conn.execute(
            f"SELECT {', '.join(SPAN_COLUMNS)} FROM reconcile_spans WHERE session_id = ?"
            f" ORDER BY start_ts, id LIMIT {MAX_SPANS}",
            (session_id,),
        ).fetchall()
        spans, origins = [], []
        for span_id, values in enumerate(rows, start=1):
            original = dict(zip(SPAN_COLUMNS, values, strict=True))
            span = _seed_span(session_id, span_id, original)
            spans.append(span)
            kept = overrides(seed_span_row(span), original)
            if kept:
                origins.append((span_id, kept))
        self.writer.upsert_spans(spans)
        self.writer.put_origins(session_id, "span", origins)
        self.report.spans += len(spans)

    def _tables(self) -> set[str]:
        rows = self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {str(row[0]) for row in rows}


def _seed_span(session_id: str, span_id: int, original: dict[str, Any]) -> ReconcileSpan:
    start, end = original["start_ts"], original["end_ts"]
    return ReconcileSpan(
        session_id, span_id, _text(original["kind"]), namespace=_text(original["namespace"]),
        name=_text(original["name"]), actor=_text(original["actor_id"]),
        trigger=_text(original["trigger_reason"]), start_ns=_span_ns(start),
        end_ns=None if end is None else _span_ns(end), error=_text(original["error"]),
        external_id=_text(original["id"]),
    )  # fmt: skip


def _span_ns(value: Any) -> int:
    """The Go tool's span times may be in s, ms or ns; see legacy._to_ns."""
    number = _integer(value)
    for limit, factor in ((10**17, 1), (10**14, 1000), (10**11, 1_000_000)):
        if abs(number) > limit:
            return number * factor
    return number * NS_PER_S


class JsonLinesImporter:
    """Reads the JSON-lines format (see ``recorder.storage.jsonl``) into a writer."""

    def __init__(self, source: str, writer: RecordingWriter, progress: Progress | None) -> None:
        self.source = source
        self.writer = writer
        self.progress = progress
        self.report = ImportReport(source_format="jsonl")
        self._session = ""
        self._ops: list[Operation] = []
        self._op_origins: list[tuple[int, dict[str, Any]]] = []
        self._spans: list[ReconcileSpan] = []
        self._span_origins: list[tuple[int, dict[str, Any]]] = []

    def run(self) -> ImportReport:
        total = os.path.getsize(self.source)
        done = 0
        with open(self.source, "rb") as handle:
            for number, text in enumerate(handle, start=1):
                if number > MAX_SOURCE_ROWS:
                    raise InvalidInputError(f"{self.source}: too many lines")
                done += len(text)
                self._line(jsonl.parse_line(text, number), number)
                if self.progress is not None and number % BATCH == 0:
                    self.progress(done, total)
        self._end_session()
        if not self.report.sessions:
            raise InvalidInputError(f"{self.source}: no session header line (not a kreplay export)")
        if self.progress is not None:
            self.progress(total, total)
        return self.report

    def _line(self, line: dict[str, Any] | None, number: int) -> None:
        if line is None:
            return
        if line.get("kreplay") == "session":
            self._end_session()
            self._begin_session(line, number)
            return
        if not self._session:
            raise InvalidInputError(f"line {number}: expected a session header line first")
        seed = jsonl.seed_columns(line, number)
        if "op" in line:
            op = jsonl.parse_op(line, number, self._session)
            self._ops.append(op)
            if seed:
                self._op_origins.append((op.seq, seed))
            if len(self._ops) >= BATCH:
                self._flush_ops()
        elif "span" in line:
            span = jsonl.parse_span(line, number, self._session)
            self._spans.append(span)
            if seed:
                self._span_origins.append((span.span_id, seed))
        else:
            raise InvalidInputError(f"line {number}: neither a session, an op nor a span line")

    def _begin_session(self, line: dict[str, Any], number: int) -> None:
        info = jsonl.parse_session(line, number)
        if info.session_id in self.writer.session_ids():
            raise InvalidInputError(
                f"session {info.session_id!r} already exists in {self.writer.path}"
            )
        self.writer.begin_session(info)
        self.writer.update_session(info.session_id, ended_ns=info.ended_ns)
        self.writer.add_dropped(info.session_id, info.dropped_ops)
        seed = jsonl.seed_columns(line, number)
        if seed:
            self.writer.put_origins(info.session_id, "session", [(0, seed)])
        self._session = info.session_id
        self.report.sessions.append(info.session_id)

    def _flush_ops(self) -> None:
        if not self._ops:
            return
        try:
            result = self.writer.append(self._ops)
        except RecordingError as error:
            raise InvalidInputError(f"{self.source}: {error}") from error
        self.report.add(result)
        last = result.last_seq or 0
        kept = [origin for origin in self._op_origins if origin[0] <= last]
        self.writer.put_origins(self._session, "op", kept)
        self._ops.clear()
        self._op_origins.clear()

    def _end_session(self) -> None:
        if not self._session:
            return
        self._flush_ops()
        self.writer.upsert_spans(self._spans)
        self.writer.put_origins(self._session, "span", self._span_origins)
        self.report.spans += len(self._spans)
        self._spans.clear()
        self._span_origins.clear()
        self._session = ""
