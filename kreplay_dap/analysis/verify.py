"""Integrity checks of a recording file (ours or the Go tool's), as ``kreplay verify``.

Checks: SQLite integrity, the expected tables and columns, runs that list every operation
once (or the indexes older files have instead), NULLs where the Go schema
requires values, values of the Go schema's INTEGER columns that are not integers or do not
fit ours, sequence gaps and duplicates, time going backwards within one actor, negative
durations, session summaries that disagree with the operations, open or inverted
reconcile spans, operations pointing at unknown spans, and undecodable bodies.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from recorder.errors import KreplayError, NotARecordingError
from recorder.storage.api import Recording
from recorder.storage.connection import open_read_only
from recorder.storage.model import Operation, SessionInfo
from recorder.storage.open import open_recording
from recorder.storage.schema import recorded_version
from recorder.storage.seed import MAX_MILLISECONDS, MAX_SECONDS

MAX_EXAMPLES = 5
CLOCK_SLACK_NS = 1_000_000
GO_CLOCK_SLACK_NS = 1_000_000_000  # the Go tool's timestamps are whole seconds
MAX_ACTORS = 100_000  # actors whose clocks are followed per session
MAX_SESSIONS = 10_000_000
BODY_SAMPLE = 2000
MAX_SPANS = 1_000_000
_KREPLAY_TABLES = ("schema_migrations", "sessions", "ops", "blobs", "objects", "spans")
# Each run table and the operations it must list (recorder/storage/runs.py).
_RUN_COVERAGE = (
    ("object_runs", "1"),
    ("callsite_runs", "callsite_id IS NOT NULL"),
    ("verb_kind_runs", "1"),
)
_SEED_REQUIRED = ("session_id", "sequence_number", "timestamp", "operation_type")
_SEED_NOT_NULL = ("session_id", "sequence_number", "timestamp", "operation_type", "resource_kind")


@dataclass
class Problem:
    check: str
    session: str = ""
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, example: str) -> None:
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(example)


@dataclass
class VerifyReport:
    path: str
    flavor: str = ""
    sessions: int = 0
    operations: int = 0
    problems: list[Problem] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)  # bounds hit while reading (max_ops)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.path, "format": self.flavor, "ok": self.ok,
            "sessions": self.sessions, "operations": self.operations,
            "problems": [
                {"check": p.check, "session": p.session, "count": p.count, "examples": p.examples}
                for p in self.problems
            ],
            "limits": self.limits,
        }  # fmt: skip


class _Checks:
    def __init__(self, report: VerifyReport, session: str) -> None:
        self.report = report
        self.session = session
        self.found: dict[str, Problem] = {}

    def add(self, check: str, example: str) -> None:
        problem = self.found.get(check)
        if problem is None:
            problem = self.found[check] = Problem(check, self.session)
            self.report.problems.append(problem)
        problem.add(example)


def verify_recording(path: str, max_ops: int = 100_000_000) -> VerifyReport:
    """Check one file; raises ``KreplayError`` only when it cannot be opened at all."""
    recording = open_recording(path, max_ops=max_ops)
    report = VerifyReport(path, recording.flavor)
    try:
        _schema(path, recording.flavor, report)
        for session_id in recording.session_ids()[:MAX_SESSIONS]:
            report.sessions += 1
            try:
                _session(recording, recording.session(session_id), report)
            except KreplayError as error:  # values no reader can use: a problem, not the end
                _Checks(report, session_id).add("unreadable", str(error))
        report.limits = list(recording.limit_events)
    finally:
        recording.close()
    return report


def _schema(path: str, flavor: str, report: VerifyReport) -> None:
    checks = _Checks(report, "")
    conn = open_read_only(path)
    try:
        for (message,) in conn.execute("PRAGMA quick_check(20)").fetchall():
            if message != "ok":
                checks.add("sqlite-integrity", str(message))
        tables = {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master")}
        if flavor == "kreplay":
            for table in _KREPLAY_TABLES:
                if table not in tables:
                    checks.add("missing-table", table)
            _lookups(conn, tables, checks)
            return
        columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(operations)")}
        for column in _SEED_NOT_NULL:
            if column not in columns:
                checks.add("missing-column", f"operations.{column}")
                continue
            nulls = conn.execute(
                f"SELECT COUNT(*) FROM operations WHERE {column} IS NULL"
            ).fetchone()[0]
            if nulls:
                checks.add("null-value", f"operations.{column}: {nulls} NULL row(s)")
        _seed_types(conn, tables, columns, checks)
        _seed_duplicates(conn, checks)
    except (sqlite3.DatabaseError, NotARecordingError) as error:
        checks.add("sqlite-integrity", str(error))
    finally:
        conn.close()


def _lookups(conn: sqlite3.Connection, names: set[str], checks: _Checks) -> None:
    """What lookups by object, call site and verb/kind need: the runs (version 6), each
    listing every operation once, or the indexes of older files."""
    if recorded_version(conn) < 6:
        for index in ("ops_by_object", "ops_by_callsite", "ops_by_verb_kind"):
            if index not in names:
                checks.add("missing-index", index)
        return
    for table, which in _RUN_COVERAGE:
        if table not in names:
            checks.add("missing-table", table)
            continue
        listed = conn.execute(f"SELECT COALESCE(SUM(json_array_length(seqs)), 0) FROM {table}")
        expected = conn.execute(f"SELECT COUNT(*) FROM ops WHERE {which}")
        listed_count, expected_count = listed.fetchone()[0], expected.fetchone()[0]
        if listed_count != expected_count:
            checks.add(
                "runs-mismatch",
                f"{table} lists {listed_count} operations where ops has {expected_count}",
            )


# (table, column, the largest magnitude our columns can hold after conversion, or None)
_SEED_INTEGERS = (
    ("operations", "sequence_number", None),
    ("operations", "timestamp", MAX_SECONDS),
    ("operations", "duration_ms", MAX_MILLISECONDS),
    ("operations", "generation", None),
    ("reconcile_spans", "start_ts", None),
    ("reconcile_spans", "end_ts", None),
    ("reconcile_spans", "duration_ms", None),
)


def _seed_types(
    conn: sqlite3.Connection, tables: set[str], columns: set[str], checks: _Checks
) -> None:
    """INTEGER columns of the Go tool's files holding text, blobs or fractions (SQLite
    keeps any value), and numbers out of our 64-bit range (millisecond timestamps)."""
    span_columns = set()
    if "reconcile_spans" in tables:
        found = conn.execute("PRAGMA table_info(reconcile_spans)").fetchall()
        span_columns = {str(row[1]) for row in found}
    for table, column, limit in _SEED_INTEGERS:
        if column not in (columns if table == "operations" else span_columns):
            continue
        bad = conn.execute(
            f"SELECT COUNT(*) FROM {table} WHERE typeof({column}) NOT IN ('integer', 'null')"
        ).fetchone()[0]
        if bad:
            checks.add("bad-type", f"{table}.{column}: {bad} non-integer row(s)")
        if limit is None:
            continue
        out = conn.execute(
            f"SELECT COUNT(*), MAX(ABS({column})) FROM {table}"
            f" WHERE typeof({column}) = 'integer' AND ABS({column}) > {limit}"
        ).fetchone()
        if out[0]:
            checks.add(
                "bad-value",
                f"{table}.{column}: {out[0]} row(s) out of range (up to {out[1]}; at most {limit})",
            )


def _seed_duplicates(conn: sqlite3.Connection, checks: _Checks) -> None:
    """Repeated and missing sequence numbers of the Go tool's sessions."""
    rows = conn.execute(
        "SELECT session_id, sequence_number, COUNT(*) FROM operations"
        " GROUP BY session_id, sequence_number HAVING COUNT(*) > 1 LIMIT 1000"
    ).fetchall()
    for session, seq, count in rows:
        checks.add("duplicate-seq", f"session {session}: seq {seq} appears {count}x")
    # On the Go tool's own numbers: a session that repeats one is read numbered by row id.
    gaps = conn.execute(
        "SELECT session_id, previous, sequence_number FROM (SELECT session_id, sequence_number,"
        " LAG(sequence_number) OVER (PARTITION BY session_id ORDER BY sequence_number)"
        " AS previous FROM operations WHERE typeof(sequence_number) = 'integer')"
        " WHERE sequence_number > previous + 1 LIMIT 1000"
    ).fetchall()
    for session, previous, seq in gaps:
        checks.add(
            "seq-gap", f"session {session}: {previous} -> {seq} ({seq - previous - 1} missing)"
        )


class _Clocks:
    """Time must not go backwards within one actor's stream of operations.

    One process writes an actor's operations; the operations of several actors (processes
    writing one session, or one process's controllers) interleave by batch, so their order
    across actors says nothing about time. kreplay stamps an operation when it starts and
    receives a call when it ends; it numbers operations in start order, holding the newest
    back briefly, and older recordings numbered them as they completed. Either way an
    operation ends no earlier than any operation numbered before it started: its end time
    (start + duration) must not be more than 1 ms before the latest start so far. The Go
    tool numbered operations as they started, with whole-second timestamps: its files, and
    sessions imported from them, are judged by start time with one second of tolerance.
    """

    def __init__(self, recording: Recording, info: SessionInfo) -> None:
        native = recording.flavor == "kreplay"
        self.by_start = not native or info.recorder_version.startswith("replay-cli")
        self.slack_ns = GO_CLOCK_SLACK_NS if self.by_start else CLOCK_SLACK_NS
        self.latest_start: dict[str, int] = {}

    def check(self, op: Operation, checks: _Checks) -> None:
        end_ns = op.ts_ns if self.by_start else op.ts_ns + max(0, op.duration_us) * 1000
        previous = self.latest_start.get(op.actor)
        if previous is None:
            if len(self.latest_start) < MAX_ACTORS:
                self.latest_start[op.actor] = op.ts_ns
            return
        if end_ns < previous - self.slack_ns:
            checks.add(
                "time-backwards",
                f"seq {op.seq} ends {previous - end_ns} ns before an earlier operation started"
                f" (actor {op.actor!r})",
            )
        self.latest_start[op.actor] = max(previous, op.ts_ns)


def _session(recording: Recording, info: SessionInfo, report: VerifyReport) -> None:
    checks = _Checks(report, info.session_id)
    span_ids = _spans(recording, info, checks)
    clocks = _Clocks(recording, info)
    previous_seq: int | None = None
    count = 0
    bodies_checked = 0
    native = recording.flavor == "kreplay"
    for op in recording.operations(info.session_id):
        count += 1
        if native and previous_seq is not None:  # the Go tool's: _seed_duplicates, in SQL
            _sequence(checks, previous_seq, op.seq)
        clocks.check(op, checks)
        if op.duration_us < 0:
            checks.add("negative-duration", f"seq {op.seq}: {op.duration_us} us")
        if op.span_id is not None and span_ids is not None and op.span_id not in span_ids:
            checks.add("unknown-span", f"seq {op.seq}: span {op.span_id}")
        if bodies_checked < BODY_SAMPLE and (op.response_ref or op.request_ref):
            bodies_checked += 1
            _body(recording, op.response_ref or op.request_ref, op.seq, checks)
        previous_seq = op.seq
    report.operations += count
    if native and recording.limit_seq(info.session_id) is None:  # not cut by max_ops
        _summary(checks, info, count, previous_seq)


def _summary(checks: _Checks, info: SessionInfo, count: int, last_seq: int | None) -> None:
    if count != info.op_count:
        checks.add("summary-mismatch", f"op_count {info.op_count} but {count} operations")
    if last_seq is not None and last_seq != info.last_seq:
        checks.add("summary-mismatch", f"last_seq {info.last_seq} but last operation {last_seq}")


def _sequence(checks: _Checks, previous: int, seq: int) -> None:
    if seq == previous:
        checks.add("duplicate-seq", f"seq {seq}")
    elif seq != previous + 1:
        checks.add("seq-gap", f"{previous} -> {seq} ({seq - previous - 1} missing)")


def _spans(recording: Recording, info: SessionInfo, checks: _Checks) -> set[int] | None:
    ids: set[int] = set()
    for index, span in enumerate(recording.spans(info.session_id)):
        if index >= MAX_SPANS:
            return None
        ids.add(span.span_id)
        if span.end_ns is None and info.ended_ns:
            checks.add("open-span", f"span {span.span_id} ({span.object_ref}) never ended")
        elif span.end_ns is not None and span.end_ns < span.start_ns:
            checks.add("span-ends-before-start", f"span {span.span_id}")
    return ids


def _body(recording: Recording, ref: int | None, seq: int, checks: _Checks) -> None:
    try:
        recording.body(ref)
    except KreplayError as error:
        checks.add("corrupt-body", f"seq {seq}: {error}")
