"""``import_recording``: a Go-tool file (either schema) or a JSON-lines export into ours.

Seed rows are read and converted by ``seed_reader.SeedReader`` (in a helper process for
large files when a core is free: ``import_worker``) and written here in batches. For each
row, the Go tool's column values that ``seed.seed_op_row`` would not give back are kept in
``seed_origin``, so exporting to the seed schema reproduces every column of every row.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from recorder.collector import fewer_collections
from recorder.errors import InvalidInputError, NotARecordingError, RecordingError
from recorder.frames import spare_core
from recorder.storage import jsonl
from recorder.storage.connection import check_before_writing, open_read_only
from recorder.storage.import_worker import ImportWorker
from recorder.storage.model import Operation, ReconcileSpan, SessionInfo
from recorder.storage.seed import (
    NS_PER_S,
    SPAN_COLUMNS,
    V1_OP_COLUMNS,
    V2_OP_COLUMNS,
    overrides,
    seed_span_row,
    span_time_ns,
)
from recorder.storage.seed_reader import (
    MAX_SOURCE_ROWS,
    Origin,
    SeedEvent,
    SeedReader,
    SessionStart,
    integer,
    text,
)
from recorder.storage.writer import AppendResult, RecordingWriter

BATCH = 20_000  # large transactions: each index page is written once per batch
EARLY_BATCH = 5_000  # the least written while a helper process has no page ready
# A helper process costs about 0.2 s to start and pays off from here.
PARALLEL_MIN_ROWS = 100_000
MAX_SPANS = 10_000_000
MAX_SESSIONS = 10_000_000

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
    helper_process: bool = False  # the rows were read by ``import_worker``

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
    parallel: bool | None = None,
) -> ImportReport:
    """Import ``source`` into ``destination`` (created or appended to).

    The source's format and session names and the destination are checked read-only
    first: a refused import changes nothing. A destination this call created is removed
    again when the import fails before writing any operation (batches written stay).

    ``parallel``: read a Go-tool file in a helper process (True), in this one (False), or
    choose (None: files of ``PARALLEL_MIN_ROWS`` rows or more, on Linux with a free core).
    """
    if os.path.isdir(source) or not os.path.exists(source):
        raise InvalidInputError(f"{source}: no such file to import")
    if os.path.abspath(source) == os.path.abspath(destination):
        raise InvalidInputError("the source and the destination are the same file")
    with open(source, "rb") as handle:
        is_sqlite = handle.read(16) == b"SQLite format 3\x00"
    incoming = seed_sessions(source) if is_sqlite else jsonl_sessions(source)
    _refuse_existing_sessions(destination, incoming)
    created = not os.path.lexists(destination)
    importer: SeedImporter | JsonLinesImporter | None = None
    try:
        writer = RecordingWriter(destination, max_ops=max_ops, max_object_bytes=max_object_bytes)
        try:
            with fewer_collections():
                if is_sqlite:
                    importer = SeedImporter(source, writer, progress, parallel)
                else:
                    importer = JsonLinesImporter(source, writer, progress)
                return importer.run()
        finally:
            writer.close()
    except BaseException:
        # A file this call created and wrote no operation to goes; committed batches stay.
        if created and (importer is None or importer.report.operations == 0):
            remove_recording_file(destination)
        raise


def _refuse_existing_sessions(destination: str, incoming: list[str]) -> None:
    clash = sorted(set(incoming) & set(check_before_writing(destination)))
    if clash:
        more = f" (and {len(clash) - 1} more)" if len(clash) > 1 else ""
        raise InvalidInputError(
            f"session {clash[0]!r}{more} already exists in {destination}; import into another file"
        )


def remove_recording_file(path: str) -> None:
    """Remove a recording file and the journal files SQLite may have left beside it."""
    for name in (path, path + "-wal", path + "-shm", path + "-journal"):
        if os.path.isfile(name):
            os.remove(name)


def seed_columns(conn: sqlite3.Connection, source: str) -> tuple[tuple[str, ...], str]:
    """(the Go tool's operation columns, ``seed-v1``/``seed-v2``) of a source file."""
    try:
        names = {row[1] for row in conn.execute("PRAGMA table_info(operations)")}
        tables = {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as error:
        raise NotARecordingError(f"{source}: corrupt SQLite file ({error})") from error
    if not names and {"schema_migrations", "ops"} <= tables:
        raise InvalidInputError(f"{source}: already a kreplay recording, nothing to import")
    if not set(V1_OP_COLUMNS) <= names:
        raise NotARecordingError(
            f"{source}: not a replay-cli recording (no 'operations' table with the"
            " Go tool's columns)"
        )
    if set(V2_OP_COLUMNS) <= names:
        return V2_OP_COLUMNS, "seed-v2"
    return V1_OP_COLUMNS, "seed-v1"


def seed_sessions(source: str) -> list[str]:
    """The sessions of a Go-tool file, checked read-only before anything is written."""
    conn = open_read_only(source, memory_map=False)
    try:
        seed_columns(conn, source)
        rows = conn.execute(
            f"SELECT DISTINCT session_id FROM operations LIMIT {MAX_SESSIONS}"
        ).fetchall()
    except sqlite3.DatabaseError as error:
        raise NotARecordingError(f"{source}: corrupt or truncated ({error})") from error
    finally:
        conn.close()
    return [text(row[0]) for row in rows]


def jsonl_sessions(source: str) -> list[str]:
    """The sessions of a JSON-lines file, read before anything is written: its first line
    must be a session header, and each header must be valid and name a new session."""
    names: dict[str, int] = {}
    with open(source, "rb") as handle:
        for number, raw in jsonl.numbered_lines(handle, MAX_SOURCE_ROWS):
            if names and b'"kreplay"' not in raw:
                continue
            line = jsonl.parse_line(raw, number)
            if line is None:
                continue
            if line.get("kreplay") != "session":
                if not names:
                    raise InvalidInputError(f"line {number}: expected a session header line first")
                continue
            session_id = jsonl.parse_session(line, number).session_id
            if session_id in names:
                raise InvalidInputError(
                    f"line {number}: session {session_id!r} again (first on line"
                    f" {names[session_id]}); a file holds each session once"
                )
            names[session_id] = number
    if not names:
        raise InvalidInputError(f"{source}: no session header line (not a kreplay export)")
    return list(names)


class SeedImporter:
    """Streams the Go tool's ``operations`` and ``reconcile_spans`` into a writer.

    The rows are read and converted by ``SeedReader``, in this process or in a helper
    process (``import_worker``) while this one writes.
    """

    def __init__(
        self,
        source: str,
        writer: RecordingWriter,
        progress: Progress | None,
        parallel: bool | None,
    ) -> None:
        self.source = source
        self.writer = writer
        self.progress = progress
        self.parallel = parallel
        self.conn = open_read_only(source, memory_map=False)  # one pass: keep RSS small
        self.report = ImportReport()
        self.columns: tuple[str, ...] = V1_OP_COLUMNS
        self._session = ""
        self._ops: list[Operation] = []
        self._origins: list[Origin] = []
        self._rows_done = 0
        self._total = 0
        self._worker: ImportWorker | None = None  # the helper process, when one reads

    def run(self) -> ImportReport:
        try:
            self._detect()
            self._total = self._estimate_rows()
            events = self._events()
            try:
                for event in events:
                    self._handle(event)
            finally:
                events.close()  # stops a helper process at once when the import failed
            self._flush()
            self._finish_session()
        except sqlite3.DatabaseError as error:
            raise NotARecordingError(f"{self.source}: corrupt or truncated ({error})") from error
        finally:
            self.conn.close()
        return self.report

    def _events(self) -> Generator[SeedEvent, None, None]:
        if not (self.parallel or (self.parallel is None and self._helper_pays())):
            yield from SeedReader(self.conn, self.columns, BATCH, source=self.source).events()
            return
        worker = self._worker = ImportWorker(self.source, self.columns, self.conn)
        self.report.helper_process = True
        try:
            yield from worker.events()
        finally:
            worker.close()

    def _helper_pays(self) -> bool:
        """Automatic mode: a helper process for large files, when a core is free."""
        return self._total >= PARALLEL_MIN_ROWS and spare_core()

    def _handle(self, event: SeedEvent) -> None:
        if isinstance(event, SessionStart):
            self._flush()
            self._finish_session()
            self._start_session(event)
            return
        self._ops.extend(event.ops)
        self._origins.extend(event.origins)
        self._rows_done += len(event.ops)
        waiting = len(self._ops)
        # Writing early while the helper reads ahead keeps both busy (at the start, mostly).
        worker = self._worker
        if waiting >= BATCH or (waiting >= EARLY_BATCH and worker is not None and worker.idle()):
            self._flush()

    def _detect(self) -> None:
        self.columns, self.report.source_format = seed_columns(self.conn, self.source)

    def _estimate_rows(self) -> int:
        row = self.conn.execute("SELECT MAX(id) FROM operations").fetchone()
        return int(row[0] or 0)

    def _start_session(self, start: SessionStart) -> None:
        first = start.first
        session_id = text(first["session_id"])
        self._session = session_id
        if session_id in self._existing_sessions():
            raise InvalidInputError(
                f"session {session_id!r} already exists in {self.writer.path}; import into"
                " another file"
            )
        started = integer(first["timestamp"]) * NS_PER_S
        label = {"imported_from": os.path.basename(self.source)}
        label["source_format"] = self.report.source_format
        self.writer.begin_session(
            SessionInfo(session_id, started_ns=started, recorder_version="replay-cli", labels=label)
        )
        if started == 0:  # begin_session reads 0 as "now"; the file says the epoch
            self.writer.update_session(session_id, started_ns=0)
        offsets = {"seq_offset": start.seq_offset, "id_offset": start.id_offset}
        self.writer.put_origins(session_id, "session", [(0, offsets)])
        self.report.sessions.append(session_id)

    def _existing_sessions(self) -> set[str]:
        return self.writer.session_ids()

    def _flush(self) -> None:
        ops, origins = self._ops, self._origins
        if not ops:
            return
        result = self.writer.append(ops)
        self.report.add(result)
        last = result.last_seq or 0
        self.writer.put_origins(self._session, "op", [kept for kept in origins if kept[0] <= last])
        ops.clear()
        origins.clear()
        if self.progress is not None:
            self.progress(self._rows_done, self._total)

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
    start, end, name = original["start_ts"], original["end_ts"], text(original["id"])
    return ReconcileSpan(
        session_id, span_id, text(original["kind"]), namespace=text(original["namespace"]),
        name=text(original["name"]), actor=text(original["actor_id"]),
        trigger=text(original["trigger_reason"]), start_ns=_span_ns(start, session_id, name),
        end_ns=None if end is None else _span_ns(end, session_id, name),
        error=text(original["error"]), external_id=name,
    )  # fmt: skip


def _span_ns(value: Any, session_id: str, span_id: str) -> int:
    """The Go tool's span times may be in s, ms or ns (``seed.span_time_ns``)."""
    number = integer(value)
    found = span_time_ns(number)
    if found is None:
        raise InvalidInputError(
            f"reconcile span {span_id!r} (session {session_id!r}): time {number} is out of"
            " range for Unix seconds, milliseconds or nanoseconds"
        )
    return found


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
            for number, text in jsonl.numbered_lines(handle, MAX_SOURCE_ROWS):
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
        seed = jsonl.seed_columns(line, number, integers=("id",) if "op" in line else ())
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
        seed = jsonl.seed_columns(line, number, integers=("seq_offset", "id_offset"))
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
