"""Integrity checks of a recording file (ours or the Go tool's), as ``kreplay verify``.

Checks: SQLite integrity, the expected tables and columns, runs that list every operation
once (or the indexes older files have instead), NULLs where the Go schema
requires values, sequence gaps and duplicates, end times going backwards, negative
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
from recorder.storage.model import SessionInfo
from recorder.storage.open import open_recording
from recorder.storage.schema import recorded_version

MAX_EXAMPLES = 5
CLOCK_SLACK_NS = 1_000_000
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
        for info in recording.sessions():
            report.sessions += 1
            _session(recording, info, report)
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
        if "timestamp" in columns:
            bad = conn.execute(
                "SELECT COUNT(*) FROM operations WHERE typeof(timestamp) != 'integer'"
            ).fetchone()[0]
            if bad:
                checks.add("bad-type", f"operations.timestamp: {bad} non-integer row(s)")
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
        " AS previous FROM operations) WHERE sequence_number > previous + 1 LIMIT 1000"
    ).fetchall()
    for session, previous, seq in gaps:
        checks.add(
            "seq-gap", f"session {session}: {previous} -> {seq} ({seq - previous - 1} missing)"
        )


def _session(recording: Recording, info: SessionInfo, report: VerifyReport) -> None:
    checks = _Checks(report, info.session_id)
    span_ids = _spans(recording, info, checks)
    previous_seq: int | None = None
    previous_ts: int | None = None
    count = 0
    bodies_checked = 0
    native = recording.flavor == "kreplay"
    slack_ns = CLOCK_SLACK_NS if native else 1_000_000_000
    for op in recording.operations(info.session_id):
        count += 1
        if native and previous_seq is not None:  # the Go tool's: _seed_duplicates, in SQL
            _sequence(checks, previous_seq, op.seq)
        # kreplay numbers operations when they complete and stamps them when they start, so
        # it is the end times (start + duration) that must not go backwards. The Go tool
        # numbered them as they were made, with whole-second timestamps.
        end_ns = op.ts_ns + max(0, op.duration_us) * 1000 if native else op.ts_ns
        if previous_ts is not None and end_ns < previous_ts - slack_ns:
            checks.add("time-backwards", f"seq {op.seq} ends {previous_ts - end_ns} ns earlier")
        previous_ts = end_ns if previous_ts is None else max(previous_ts, end_ns)
        if op.duration_us < 0:
            checks.add("negative-duration", f"seq {op.seq}: {op.duration_us} us")
        if op.span_id is not None and span_ids is not None and op.span_id not in span_ids:
            checks.add("unknown-span", f"seq {op.seq}: span {op.span_id}")
        if bodies_checked < BODY_SAMPLE and (op.response_ref or op.request_ref):
            bodies_checked += 1
            _body(recording, op.response_ref or op.request_ref, op.seq, checks)
        previous_seq = op.seq
    report.operations += count
    if recording.flavor == "kreplay" and count != info.op_count:
        checks.add("summary-mismatch", f"op_count {info.op_count} but {count} operations")
    if recording.flavor == "kreplay" and previous_seq is not None and previous_seq != info.last_seq:
        checks.add(
            "summary-mismatch", f"last_seq {info.last_seq} but last operation {previous_seq}"
        )


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
