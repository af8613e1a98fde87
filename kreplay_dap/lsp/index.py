"""Per-line aggregates of one recorded session, keyed by the recorded call-site file.

A plain library, no protocol code. ``scan_session`` reads the operations after a given
sequence number and aggregates them by the top call-site frame (the operator's own line
that made the call) into a ``SessionDelta``; ``SessionIndex.merge`` folds a delta into
the index. The first build is a scan from the start, a refresh only reads newer ops.

kreplay-format files are read with one lean SQL query (seven columns, no bodies); other
flavours through the ``Recording`` protocol (the original tool never recorded call sites,
so those give no lines at all).
"""

from __future__ import annotations

import sqlite3
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from kreplay_dap.replay.diff import Change
from recorder.errors import RecordingError
from recorder.storage.api import Recording
from recorder.storage.model import WRITE_VERBS, Operation
from recorder.storage.runs import CALLSITE, RunLookup

RECENT_CALLS = 5
MAX_SCAN_OPS = 20_000_000
MAX_CALLSITES = 2_000_000
MAX_GROUPS = 10_000_000


class CallRecord(NamedTuple):
    """One call as shown in a hover: what was called, on what, and how it went."""

    seq: int
    verb: str
    kind: str
    namespace: str
    name: str
    status: int
    duration_us: int
    error: bool

    @property
    def target(self) -> str:
        name = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {name}".strip()


@dataclass(slots=True)
class LineStats:
    """What one source line did during a session."""

    line: int
    calls: int = 0
    errors: int = 0
    first_seq: int = 0
    last_seq: int = 0
    by_call: Counter[tuple[str, str]] = field(default_factory=Counter)
    recent: deque[CallRecord] = field(default_factory=lambda: deque(maxlen=RECENT_CALLS))
    last_write_seq: int | None = None
    last_write_diff: list[Change] | None = None  # of last_write_seq, once computed

    def add(self, call: CallRecord) -> None:
        if self.calls == 0:
            self.first_seq = call.seq
        self.calls += 1
        self.last_seq = call.seq
        self.errors += call.error
        self.by_call[(call.verb, call.kind)] += 1
        self.recent.append(call)
        if call.verb in WRITE_VERBS and not call.error:
            self.last_write_seq, self.last_write_diff = call.seq, None

    def add_group(
        self,
        call: tuple[str, str],
        count: int,
        errors: int,
        first: int,
        last: int,
        last_write: int | None,
    ) -> None:
        """Fold in a (verb, kind) group of calls aggregated elsewhere (``recent`` apart)."""
        self.first_seq = first if self.calls == 0 else min(self.first_seq, first)
        self.last_seq = max(self.last_seq, last)
        self.calls += count
        self.errors += errors
        self.by_call[call] += count
        if last_write is not None and last_write > (self.last_write_seq or 0):
            self.last_write_seq, self.last_write_diff = last_write, None

    def absorb(self, newer: LineStats) -> None:
        """Fold in the stats of operations that all come after ours."""
        if newer.calls == 0:
            return
        if self.calls == 0:
            self.first_seq = newer.first_seq
        self.calls += newer.calls
        self.errors += newer.errors
        self.last_seq = newer.last_seq
        self.by_call.update(newer.by_call)
        self.recent.extend(newer.recent)
        if newer.last_write_seq is not None:
            self.last_write_seq = newer.last_write_seq
            self.last_write_diff = newer.last_write_diff


FileLines = dict[int, LineStats]


@dataclass(slots=True)
class SessionDelta:
    """Aggregates of the operations in ``(after_seq, last_seq]``."""

    after_seq: int
    last_seq: int
    files: dict[str, FileLines] = field(default_factory=dict)
    operations: int = 0
    without_call_site: int = 0

    def line(self, file: str, line: int) -> LineStats:
        lines = self.files.get(file)
        if lines is None:
            lines = self.files[file] = {}
        stats = lines.get(line)
        if stats is None:
            stats = lines[line] = LineStats(line)
        return stats

    def add(self, file: str, line: int, call: CallRecord) -> None:
        self.line(file, line).add(call)


@dataclass(slots=True)
class SessionIndex:
    """Everything indexed so far of one session; ``last_seq`` is where a refresh resumes."""

    database: str
    session_id: str
    last_seq: int = 0
    operations: int = 0
    with_call_site: int = 0
    files: dict[str, FileLines] = field(default_factory=dict)

    @property
    def has_call_sites(self) -> bool:
        return self.with_call_site > 0

    def merge(self, delta: SessionDelta) -> None:
        if delta.after_seq != self.last_seq:
            raise RecordingError(
                f"{self.database}: index of {self.session_id!r} is at seq {self.last_seq},"
                f" the new scan starts after {delta.after_seq}"
            )
        self.last_seq = max(self.last_seq, delta.last_seq)
        self.operations += delta.operations
        self.with_call_site += delta.operations - delta.without_call_site
        for file, lines in delta.files.items():
            mine = self.files.get(file)
            if mine is None:
                self.files[file] = lines
                continue
            for line, stats in lines.items():
                existing = mine.get(line)
                if existing is None:
                    mine[line] = stats
                else:
                    existing.absorb(stats)

    def lines(self, recorded_paths: Iterable[str]) -> FileLines:
        """The lines of the first recorded path that has any."""
        for path in recorded_paths:
            found = self.files.get(path)
            if found:
                return found
        return {}


def scan_session(recording: Recording, session_id: str, after_seq: int) -> SessionDelta:
    """Aggregate the operations of a session after ``after_seq``."""
    fast = _SqlScan.open(recording, session_id)
    if fast is not None:
        return fast.scan(after_seq)
    return scan_operations(recording.operations(session_id, start_seq=after_seq + 1), after_seq)


def scan_operations(operations: Iterator[Operation], after_seq: int) -> SessionDelta:
    """The protocol path: aggregate ``Operation`` objects in sequence order."""
    delta = SessionDelta(after_seq, after_seq)
    for count, op in enumerate(operations):
        if count >= MAX_SCAN_OPS:
            break
        delta.operations += 1
        delta.last_seq = op.seq
        if not op.call_site:
            delta.without_call_site += 1
            continue
        status = max(op.error_code, op.status_code)
        call = CallRecord(
            op.seq, op.verb, op.kind, op.namespace, op.name, status, op.duration_us, op.is_error
        )
        top = op.call_site[0]
        delta.add(top.file, top.line, call)
    return delta


_ERROR_SQL = "(status_code >= 400 OR error_code >= 400 OR event_type = 'ERROR')"
_WRITES_SQL = "(" + ", ".join(f"'{verb}'" for verb in sorted(WRITE_VERBS)) + ")"


class _SqlScan:
    """The kreplay flavour: one lean, bounded range query over the primary key."""

    def __init__(self, conn: sqlite3.Connection, session_rowid: int) -> None:
        self.conn = conn
        self.session = session_rowid

    @classmethod
    def open(cls, recording: Recording, session_id: str) -> _SqlScan | None:
        conn = getattr(recording, "connection", None)
        if recording.flavor != "kreplay" or not isinstance(conn, sqlite3.Connection):
            return None
        row = conn.execute("SELECT id FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        return None if row is None else cls(conn, int(row[0]))

    def scan(self, after_seq: int) -> SessionDelta:
        # Fix the upper bound first: a recorder appending meanwhile is read next time.
        high, total = self.conn.execute(
            "SELECT MAX(seq), COUNT(*) FROM ops WHERE session = ? AND seq > ?",
            (self.session, after_seq),
        ).fetchone()
        delta = SessionDelta(after_seq, after_seq if high is None else int(high))
        if high is None:
            return delta
        delta.operations = int(total)
        bounds = (self.session, after_seq, int(high))
        sites = self._callsites()
        with_site = 0
        touched: dict[int, LineStats] = {}
        # SQLite aggregates in C; Python only sees one row per (call site, verb, kind).
        groups = self.conn.execute(
            f"SELECT callsite_id, verb, kind, COUNT(*), SUM({_ERROR_SQL}), MIN(seq), MAX(seq),"
            f" MAX(CASE WHEN verb IN {_WRITES_SQL} AND NOT {_ERROR_SQL} THEN seq END) FROM ops"
            " WHERE session = ? AND seq > ? AND seq <= ? AND callsite_id IS NOT NULL"
            f" GROUP BY callsite_id, verb, kind LIMIT {MAX_GROUPS}",
            bounds,
        )
        for site_id, verb, kind, count, errors, first, last, last_write in groups:
            site = sites.get(int(site_id))
            if site is None:  # a dangling id would be a corrupt file: counted as no site
                continue
            with_site += int(count)
            stats = delta.line(site[0], site[1])
            stats.add_group(
                (str(verb), str(kind)), int(count), int(errors), first, last, last_write
            )
            touched[int(site_id)] = stats
        self._recent_calls(touched, bounds)
        delta.without_call_site = max(delta.operations - with_site, 0)
        return delta

    def _recent_calls(self, touched: dict[int, LineStats], bounds: tuple[int, int, int]) -> None:
        """The last few calls of each line, through the call-site runs."""
        per_line: dict[int, list[CallRecord]] = {}
        session, low, high = bounds
        lookup = RunLookup(self.conn, session)
        columns = (
            "seq, verb, kind, namespace, name, MAX(error_code, status_code), duration_us,"
            f" {_ERROR_SQL}"
        )
        for site_id, stats in touched.items():
            rows = lookup.rows(
                CALLSITE, (session, site_id), columns, high, forward=False, inclusive=True,
                where="seq > ?", params=(low,), limit=RECENT_CALLS,
            )  # fmt: skip
            per_line.setdefault(id(stats), []).extend(CallRecord._make(row) for row in rows)
        for stats in {id(stats): stats for stats in touched.values()}.values():
            calls = sorted(per_line.get(id(stats), []))
            stats.recent.extend(calls[-RECENT_CALLS:])

    def _callsites(self) -> dict[int, tuple[str, int]]:
        rows = self.conn.execute(
            f"SELECT id, file, line FROM callsites ORDER BY id LIMIT {MAX_CALLSITES}"
        )
        return {int(row[0]): (str(row[1]), int(row[2])) for row in rows}
