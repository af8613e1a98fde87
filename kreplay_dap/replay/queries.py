"""Index-backed searches over a recording.

The ``Recording`` protocol covers per-object and per-file walks; breakpoints also need
"the next operation matching this filter" without a Python scan over a million rows. For
the kreplay flavour this module asks SQLite through the reader's read-only connection
(``recording.connection``), using the runs of each object, call site and verb/kind
(``ops_by_object``, ``ops_by_callsite`` and ``ops_by_verb_kind`` on files older than the
runs) and the ``ops_by_status`` indexes. Other flavours fall back to streaming
the protocol in bounded batches, with cancellation and progress.
"""

from __future__ import annotations

import fnmatch
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from kreplay_dap.replay.object_index import ObjectIndex, ObjectLifetime, lifetime_from_events
from recorder.storage.api import Recording
from recorder.storage.model import VERBS, ObjectRef, Operation
from recorder.storage.runs import CALLSITE, OBJECT, VERB_KIND, RunAxis

MAX_OBJECT_FANOUT = 64  # above this many matching objects, a filter uses one SQL range scan
MAX_THREADS = 4096
MAX_SPANS = 1_000_000
MAX_PROTOCOL_WALK = 10_000_000  # operations walked to build lifetimes without the index
MAX_OBJECTS = 2_000_000
_GLOB_CHARS = frozenset("*?[")


class ScanControl:
    """Cancellation flag plus a progress callback shared by a long search."""

    def __init__(
        self, progress: Callable[[int], None] | None = None, interval_s: float = 0.2
    ) -> None:
        self.cancelled = False
        self.progress = progress
        self.visited = 0
        self.interval_s = interval_s
        self._next_report = time.monotonic() + interval_s

    def tick(self, count: int = 1) -> bool:
        """Count visited rows; report at most every ``interval_s`` (clock read every 1,024
        rows); True while the search may go on."""
        before = self.visited
        self.visited += count
        if self.progress is not None and (self.visited >> 10) != (before >> 10):
            now = time.monotonic()
            if now >= self._next_report:
                self._next_report = now + self.interval_s
                self.progress(self.visited)
        return not self.cancelled


@dataclass(frozen=True, slots=True)
class OpFilter:
    """Which operations match: empty fields match anything; text fields may be globs."""

    verbs: frozenset[str] = frozenset()
    kind: str = ""
    namespace: str = ""
    name: str = ""
    actor: str = ""
    thread: str | None = None
    error_codes: frozenset[int] = frozenset()
    errors_only: bool = False
    error_min: int = 0
    error_max: int = 0
    min_duration_us: int = 0
    description: str = field(default="", compare=False)

    def matches(self, op: Operation) -> bool:
        if self.verbs and op.verb not in self.verbs:
            return False
        for pattern, value in (
            (self.kind, op.kind),
            (self.namespace, op.namespace),
            (self.name, op.name),
            (self.actor, op.actor),
        ):
            if pattern and not fnmatch.fnmatchcase(value, pattern):
                return False
        if self.thread is not None and op.thread != self.thread:
            return False
        return self._status_matches(op) and op.duration_us >= self.min_duration_us

    def _status_matches(self, op: Operation) -> bool:
        code = op.error_code or (op.status_code if op.status_code >= 400 else 0)
        if self.errors_only and not op.is_error:
            return False
        if self.error_codes and code not in self.error_codes:
            return False
        return not self.error_min or self.error_min <= code <= self.error_max

    @property
    def object_fields_only(self) -> bool:
        return not (self.verbs or self.actor or self.thread is not None or self._has_status())

    def _has_status(self) -> bool:
        return bool(self.error_codes or self.errors_only or self.error_min or self.min_duration_us)


class Queries:
    """Searches by index; see the module docstring."""

    def __init__(self, recording: Recording, session_id: str) -> None:
        self.recording = recording
        self.session_id = session_id
        self._sql = _SqlQueries.open(recording, session_id)

    @property
    def indexed(self) -> bool:
        return self._sql is not None

    def next_match(
        self, op_filter: OpFilter, seq: int, forward: bool, control: ScanControl
    ) -> int | None:
        """The nearest seq after (or before) ``seq`` whose operation matches."""
        if self._sql is not None:
            return self._sql.next_match(op_filter, seq, forward, control)
        for op in self._stream(seq, forward):
            if op_filter.matches(op):
                return op.seq
            if not control.tick():
                return None
        return None

    def _stream(self, seq: int, forward: bool) -> Iterator[Operation]:
        if forward:
            return self.recording.operations(self.session_id, seq + 1, None)
        return self.recording.operations_reversed(self.session_id, None, seq - 1)

    def next_on_thread(
        self, actor: str, thread: str, seq: int, forward: bool, control: ScanControl
    ) -> int | None:
        return self.next_match(
            OpFilter(actor=_literal_glob(actor), thread=thread), seq, forward, control
        )

    def span_edge(self, actor: str, thread: str, seq: int, forward: bool) -> int | None:
        """The end of the thread's first span ending after ``seq`` (forward), or the start
        of its last span starting before ``seq`` (backward)."""
        if self._sql is not None:
            return self._sql.span_edge(actor, thread, seq, forward)
        edges: list[int] = []
        for index, span in enumerate(self.recording.spans(self.session_id)):
            if index >= MAX_SPANS:
                break
            edge = span.end_seq if forward else span.start_seq
            if span.actor == actor and span.thread == thread and edge is not None:
                edges.append(edge)
        if forward:
            return min((edge for edge in edges if edge > seq), default=None)
        return max((edge for edge in edges if edge < seq), default=None)

    def thread_keys(self, limit_ops: int = 200_000) -> list[tuple[str, str]]:
        """Distinct (actor, thread) pairs, in order of first appearance."""
        if self._sql is not None:
            return self._sql.thread_keys()
        seen: dict[tuple[str, str], None] = {}
        for index, op in enumerate(self.recording.operations(self.session_id)):
            if index >= limit_ops or len(seen) >= MAX_THREADS:
                break
            seen.setdefault((op.actor, op.thread), None)
        return list(seen)

    def callsite_seqs(self, file: str, line: int) -> list[int]:
        """Sequence numbers of operations whose top call-site frame is ``file:line``."""
        if self._sql is not None:
            return self._sql.callsite_seqs(file, line)
        return [
            op.seq
            for op in self.recording.callsite_operations(self.session_id, file)
            if op.call_site and op.call_site[0].line == line
        ]

    def state_seq(self, ref: ObjectRef, seq: int, forward: bool) -> int | bool | None:
        """Nearest state-bearing op on ``ref`` by index; False when there is no index."""
        if self._sql is None:
            return False
        return self._sql.objects.state_seq(ref, seq, forward)

    def state_rows(
        self, ref: ObjectRef, seq: int, forward: bool, max_rows: int
    ) -> Iterator[tuple[int, str, str, int | None, int | None]]:
        """Light rows of the state-bearing operations on ``ref`` (only when ``indexed``)."""
        if self._sql is None:
            raise RuntimeError("state_rows needs the kreplay index; check Queries.indexed")
        return self._sql.objects.state_rows(ref, seq, forward, max_rows)

    def object_lifetimes(self) -> list[ObjectLifetime]:
        if self._sql is not None:
            return self._sql.object_lifetimes()
        return _protocol_lifetimes(self.recording, self.session_id)

    def write_counts(self, min_writes: int, max_gap: int) -> list[tuple[ObjectRef, int]]:
        """Objects with at least ``min_writes`` successful updates/patches that each follow
        the object's previous one within ``max_gap`` operations."""
        if self._sql is not None:
            return self._sql.write_counts(min_writes, max_gap)
        counts: dict[ObjectRef, int] = {}
        last: dict[ObjectRef, int] = {}
        for op in self.recording.operations(self.session_id):
            if op.verb in ("update", "patch") and not op.is_error:
                ref = op.object_ref
                if op.seq - last.get(ref, -max_gap - 1) <= max_gap:
                    counts[ref] = counts.get(ref, 0) + 1
                last[ref] = op.seq
        return [(ref, n) for ref, n in counts.items() if n >= min_writes]


def _literal_glob(text: str) -> str:
    """Escape glob characters so a literal value matches only itself."""
    return "".join(f"[{c}]" if c in _GLOB_CHARS else c for c in text)


def _protocol_lifetimes(recording: Recording, session_id: str) -> list[ObjectLifetime]:
    """Lifetimes by walking each object's operations (files without the kreplay index)."""
    lifetimes: list[ObjectLifetime] = []
    budget = MAX_PROTOCOL_WALK
    for index, ref in enumerate(recording.objects(session_id)):
        if index >= MAX_OBJECTS or budget <= 0:
            break
        if not ref.name:
            continue
        events: list[tuple[int, bool]] = []
        for op in recording.object_operations(session_id, ref):
            budget -= 1
            if budget <= 0:
                break
            if not op.is_error and op.verb not in ("list", "deletecollection"):
                deleted = op.verb == "delete" or op.event_type == "DELETED"
                events.append((op.seq, deleted))
        lifetime = lifetime_from_events(ref, events)
        if lifetime.toggles:
            lifetimes.append(lifetime)
    return lifetimes


# The condition of the ops_by_http_status partial index, and an operation's error code as
# OpFilter sees it (the error code, else a failing HTTP status).
_FAILED_SQL = "(status_code >= 400 OR event_type = 'ERROR')"
_CODE_SQL = (
    "(CASE WHEN error_code != 0 THEN error_code WHEN status_code >= 400 THEN status_code ELSE 0"
    " END)"
)


def _code_wanted(op_filter: OpFilter, code: int) -> bool:
    """Whether a distinct error code (or status) can satisfy the filter's code terms."""
    if op_filter.error_codes and code not in op_filter.error_codes:
        return False
    return not op_filter.error_min or op_filter.error_min <= code <= op_filter.error_max


def _is_glob(text: str) -> bool:
    return any(c in _GLOB_CHARS for c in text)


@dataclass(frozen=True)
class _RunPlan:
    """A lookup through the runs of one key; ``where`` is `` AND ...`` residual SQL."""

    axis: RunAxis
    key: tuple[object, ...]
    residual: str
    params: list[object]

    @property
    def where(self) -> str:
        return "1" + self.residual


_Plan = tuple[str, list[object]] | _RunPlan


class _SqlQueries:
    """The kreplay flavour: plain SQL over the read-only connection."""

    def __init__(self, conn: sqlite3.Connection, session_rowid: int) -> None:
        self.conn = conn
        self.session = session_rowid
        self._error_codes: list[int] | None = None
        self._status_codes: list[int] | None = None
        self.objects = ObjectIndex(conn, session_rowid)

    @classmethod
    def open(cls, recording: Recording, session_id: str) -> _SqlQueries | None:
        conn = getattr(recording, "connection", None)
        if recording.flavor != "kreplay" or not isinstance(conn, sqlite3.Connection):
            return None
        row = conn.execute("SELECT id FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        # Replay reads a few rows at a time: with the reader's large mmap every page a scan
        # ever touched would count in the adapter's resident memory.
        conn.execute("PRAGMA mmap_size = 0")
        return cls(conn, int(row[0])) if row else None

    def next_match(
        self, op_filter: OpFilter, seq: int, forward: bool, control: ScanControl
    ) -> int | None:
        plans = self._plans(op_filter)
        best: int | None = None
        for plan in plans:
            if not control.tick(1):
                return None
            found = self._first(plan, seq, forward)
            if found is not None and (best is None or (found < best) == forward):
                best = found
        return best

    def _first(self, plan: _Plan, seq: int, forward: bool) -> int | None:
        if isinstance(plan, _RunPlan):
            return self.objects.runs.first(
                plan.axis, plan.key, seq, forward=forward, where=plan.where, params=plan.params
            )
        where, params = plan
        comparison, order = (">", "ASC") if forward else ("<", "DESC")
        sql = f"SELECT seq FROM {where} AND seq {comparison} ? ORDER BY seq {order} LIMIT 1"
        row = self.conn.execute(sql, [*params, seq]).fetchone()
        return int(row[0]) if row else None

    def _plans(self, op_filter: OpFilter) -> list[_Plan]:
        """One lookup per verb/kind, error code or object; else one range scan.

        Conditions a lookup already pins are left out of the residual. On files older than
        the runs the index is named: otherwise SQLite prefers walking the primary key."""
        runs = self.objects.runs.has_runs
        if op_filter.kind and not _is_glob(op_filter.kind):
            residual, extra = _residual_sql(replace(op_filter, kind="", verbs=frozenset()))
            verbs = sorted(op_filter.verbs or VERBS)
            if runs:
                keys = [(self.session, verb, op_filter.kind) for verb in verbs]
                return [_RunPlan(VERB_KIND, key, residual, extra) for key in keys]
            base = "ops INDEXED BY ops_by_verb_kind WHERE session = ? AND verb = ? AND kind = ?"
            return [(base + residual, [self.session, v, op_filter.kind, *extra]) for v in verbs]
        errors = self._error_plans(op_filter)
        if errors is not None:
            return list(errors)
        objects = self._object_ids(op_filter) if op_filter.name or op_filter.namespace else None
        if objects is not None and len(objects) <= MAX_OBJECT_FANOUT:
            plain = replace(op_filter, kind="", namespace="", name="")
            residual, extra = _residual_sql(plain)
            if runs:
                return [_RunPlan(OBJECT, (oid,), residual, extra) for oid in objects]
            base = "ops INDEXED BY ops_by_object WHERE object_id = ?"
            return [(base + residual, [oid, *extra]) for oid in objects]
        residual, extra = _residual_sql(op_filter)
        return [("ops WHERE session = ?" + residual, [self.session, *extra])]

    def _error_plans(self, op_filter: OpFilter) -> list[tuple[str, list[object]]] | None:
        """Error filters as lookups in two indexes, ``Operation.is_error`` semantics: the
        error code (``ops_by_status``), and the HTTP status or watch ERROR event of rows
        whose error code says nothing (``ops_by_http_status``)."""
        by_code = bool(op_filter.error_codes or op_filter.error_min)
        if not (by_code or op_filter.errors_only):
            return None
        wanted = [c for c in self._distinct_codes() if _code_wanted(op_filter, c)]
        codes = [c for c in wanted if by_code or c >= 400]
        statuses = [s for s in self._status_only_codes() if _code_wanted(op_filter, s)]
        if len(codes) + len(statuses) > MAX_OBJECT_FANOUT:
            return None
        plain = replace(
            op_filter,
            error_codes=frozenset(),
            error_min=0,
            error_max=0,
            errors_only=op_filter.errors_only and by_code,
        )
        residual, extra = _residual_sql(plain)
        # Literal values let SQLite prove each partial index applies.
        plans: list[tuple[str, list[object]]] = [
            (f"ops WHERE session = ? AND error_code = {c}{residual}", [self.session, *extra])
            for c in codes
        ]
        unknown_code = "error_code = 0" if by_code else "error_code < 400"
        indexed = "INDEXED BY ops_by_http_status " if self._has_status_index() else ""
        plans += [
            (
                f"ops {indexed}WHERE session = ? AND status_code = {s} AND {_FAILED_SQL}"
                f" AND {unknown_code}{residual}",
                [self.session, *extra],
            )
            for s in statuses
        ]
        return plans

    def _distinct_codes(self) -> list[int]:
        if self._error_codes is None:
            rows = self.conn.execute(
                "SELECT DISTINCT error_code FROM ops WHERE session = ? AND error_code != 0",
                (self.session,),
            ).fetchall()
            self._error_codes = sorted(int(r[0]) for r in rows)
        return self._error_codes

    def _has_status_index(self) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'ops_by_http_status'"
        ).fetchone()
        return row is not None

    def _status_only_codes(self) -> list[int]:
        """HTTP statuses of failures whose error code says nothing (found once; a full scan
        on files older than the ``ops_by_http_status`` index)."""
        if self._status_codes is None:
            rows = self.conn.execute(
                f"SELECT DISTINCT status_code FROM ops WHERE session = ? AND {_FAILED_SQL}"
                " AND error_code < 400",
                (self.session,),
            ).fetchall()
            self._status_codes = sorted(int(r[0]) for r in rows)
        return self._status_codes

    def _object_ids(self, op_filter: OpFilter) -> list[int]:
        where, params = ["session = ?"], [self.session]
        for column, pattern in (
            ("kind", op_filter.kind),
            ("namespace", op_filter.namespace),
            ("name", op_filter.name),
        ):
            if pattern:
                where.append(f"{column} GLOB ?")
                params.append(pattern)  # type: ignore[arg-type]
        sql = f"SELECT id FROM objects WHERE {' AND '.join(where)} LIMIT {MAX_OBJECT_FANOUT + 1}"
        return [int(r[0]) for r in self.conn.execute(sql, params)]

    def thread_keys(self) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT actor, thread, MIN(seq) AS first FROM ops WHERE session = ? "
            f"GROUP BY actor, thread ORDER BY first LIMIT {MAX_THREADS}",
            (self.session,),
        ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def callsite_seqs(self, file: str, line: int) -> list[int]:
        ids = [
            int(r[0])
            for r in self.conn.execute(
                "SELECT id FROM callsites WHERE file = ? AND line = ?", (file, line)
            )
        ]
        members = self.objects.runs.members_sql(CALLSITE, 2)
        seqs: list[int] = []
        for callsite_id in ids[:MAX_OBJECT_FANOUT]:
            rows = self.conn.execute(
                f"SELECT seq FROM ops WHERE session = ? AND {members} ORDER BY seq",
                (self.session, self.session, callsite_id),
            )
            seqs.extend(int(r[0]) for r in rows)
        return sorted(seqs)

    def object_lifetimes(self) -> list[ObjectLifetime]:
        return self.objects.lifetimes()

    def span_edge(self, actor: str, thread: str, seq: int, forward: bool) -> int | None:
        column, best, comparison = ("end_seq", "MIN", ">") if forward else ("start_seq", "MAX", "<")
        row = self.conn.execute(
            f"SELECT {best}({column}) FROM spans WHERE session = ? AND actor = ? AND thread = ?"
            f" AND {column} {comparison} ?",
            (self.session, actor, thread, seq),
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def write_counts(self, min_writes: int, max_gap: int) -> list[tuple[ObjectRef, int]]:
        writes = (
            "SELECT object_id, seq - LAG(seq) OVER (PARTITION BY object_id ORDER BY seq) AS gap"
            " FROM ops WHERE session = ? AND verb IN ('update', 'patch')"
            " AND error_code = 0 AND status_code < 400"
        )
        sql = (
            f"SELECT o.kind, o.namespace, o.name, w.n FROM (SELECT object_id, COUNT(*) AS n"
            f" FROM ({writes}) WHERE gap <= ? GROUP BY object_id HAVING n >= ?) w"
            " JOIN objects o ON o.id = w.object_id LIMIT 100000"
        )
        rows = self.conn.execute(sql, (self.session, max_gap, min_writes))
        return [(ObjectRef(str(k), str(ns), str(n)), int(c)) for k, ns, n, c in rows]


def _residual_sql(op_filter: OpFilter) -> tuple[str, list[object]]:
    """Extra conditions checked on the rows an index yields."""
    parts: list[str] = []
    params: list[object] = []
    for column, pattern in (
        ("kind", op_filter.kind),
        ("namespace", op_filter.namespace),
        ("name", op_filter.name),
        ("actor", op_filter.actor),
    ):
        if pattern:
            parts.append(f"{column} GLOB ?")
            params.append(pattern)
    if op_filter.verbs:
        parts.append(f"verb IN ({','.join('?' * len(op_filter.verbs))})")
        params.extend(sorted(op_filter.verbs))
    if op_filter.thread is not None:
        parts.append("thread = ?")
        params.append(op_filter.thread)
    if op_filter.errors_only:
        parts.append(f"(error_code >= 400 OR {_FAILED_SQL[1:]}")
    if op_filter.error_codes:
        parts.append(f"{_CODE_SQL} IN ({','.join('?' * len(op_filter.error_codes))})")
        params.extend(sorted(op_filter.error_codes))
    if op_filter.error_min:
        parts.append(f"{_CODE_SQL} BETWEEN ? AND ?")
        params.extend([op_filter.error_min, op_filter.error_max])
    if op_filter.min_duration_us:
        parts.append("duration_us >= ?")
        params.append(op_filter.min_duration_us)
    return "".join(f" AND {p}" for p in parts), params
