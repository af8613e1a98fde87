"""Runs: the recording format's lists of the operations of one object, call site or
verb/kind (format version 6).

A run is one row per key and batch: ``first_seq``, ``last_seq`` and ``seqs``, a JSON array of
the sequence numbers. A batch of 5,000 operations over 1,000 objects writes about 1,050 run
rows instead of 15,000 secondary-index entries, which is most of what made ingest slow.
The runs of one key never overlap in sequence numbers (batches number their operations in
order), so the run that holds ``seq`` is the one with the greatest ``first_seq <= seq``.

Files older than version 6 have the secondary indexes ``ops_by_object``, ``ops_by_callsite``
and ``ops_by_verb_kind`` instead; ``RunLookup`` answers the same questions from either.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

RUN_MAX_SEQS = 512  # sequence numbers per run at most (the 512-seq buckets of the v6 migration)
_FIRST_WINDOW = 1024  # sequence numbers covered by the first window of a search
_MAX_WINDOWS = 40  # windows grow 4x each: 40 cover any 64-bit range

_SESSION = itemgetter(0)
_SEQ = itemgetter(1)
_VERB_KIND = itemgetter(3, 6)
_OBJECT_ID = itemgetter(14)
_CALLSITE_ID = itemgetter(26)
_SESSION_CALLSITE = itemgetter(0, 26)
_SESSION_VERB_KIND = itemgetter(0, 3, 6)


@dataclass(frozen=True)
class RunAxis:
    """One kind of run: its table, the columns that name a key, and the index older
    files have for the same lookups."""

    table: str
    key_columns: tuple[str, ...]
    legacy_index: str


OBJECT = RunAxis("object_runs", ("object_id",), "ops_by_object")
CALLSITE = RunAxis("callsite_runs", ("session", "callsite_id"), "ops_by_callsite")
VERB_KIND = RunAxis("verb_kind_runs", ("session", "verb", "kind"), "ops_by_verb_kind")


# -- writing -----------------------------------------------------------------------------
def run_rows(rows: Sequence[tuple[Any, ...]]) -> dict[RunAxis, list[tuple[Any, ...]]]:
    """The run rows of one batch of ``ops`` rows (in seq order), per axis."""
    seqs = list(map(_SEQ, rows))
    sessions = set(map(_SESSION, rows))
    # A batch is nearly always one session's: its keys then leave the session out.
    prefix: tuple[Any, ...] = (next(iter(sessions)),) if len(sessions) == 1 else ()
    site_key = _CALLSITE_ID if prefix else _SESSION_CALLSITE
    verb_kind_key = _VERB_KIND if prefix else _SESSION_VERB_KIND
    objects = _grouped(map(_OBJECT_ID, rows), seqs)
    sites = _grouped(map(site_key, rows), seqs)
    verb_kinds = _grouped(map(verb_kind_key, rows), seqs)
    return {
        OBJECT: _encoded((), objects),
        CALLSITE: _encoded(prefix, sites),
        VERB_KIND: _encoded(prefix, verb_kinds),
    }


def _grouped(keys: Iterator[Any], seqs: list[int]) -> dict[Any, list[int]]:
    groups: defaultdict[Any, list[int]] = defaultdict(list)
    for key, seq in zip(keys, seqs, strict=False):  # bounded by the batch
        groups[key].append(seq)
    return groups


def _encoded(prefix: tuple[Any, ...], groups: dict[Any, list[int]]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for key, seqs in groups.items():
        names = (*prefix, *key) if isinstance(key, tuple) else (*prefix, key)
        if names[-1] is None:  # operations without a call site
            continue
        for start in range(0, len(seqs), RUN_MAX_SEQS):
            chunk = seqs[start : start + RUN_MAX_SEQS]
            # str() of a list of ints is a JSON array, built in C.
            out.append((*names, chunk[0], chunk[-1], str(chunk).replace(" ", "")))
    return out


def insert_sql(axis: RunAxis) -> str:
    columns = (*axis.key_columns, "first_seq", "last_seq", "seqs")
    marks = ",".join("?" * len(columns))
    return f"INSERT INTO {axis.table} ({', '.join(columns)}) VALUES ({marks})"


# -- reading -----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Search:
    """One lookup: up to ``limit`` rows of ``columns`` of the operations of ``key`` whose
    seq compares to ``seq`` by ``comparison`` and that satisfy ``where``."""

    axis: RunAxis
    key: tuple[Any, ...]
    columns: str
    comparison: str
    seq: int
    where: str
    params: tuple[Any, ...]
    limit: int


def run_window_sql(axis: RunAxis, key_count: int, columns: str, comparison: str, where: str) -> str:
    """Rows of the operations of one key whose runs start in ``[?, ?]``, nearest first.

    Parameters: session, the key values, the window's bounds, the seq bound, ``where``'s
    parameters, the limit. ``+seq`` keeps SQLite from walking the primary key by range: the
    run's members drive the lookups."""
    key_sql = " AND ".join(f"r.{name} = ?" for name in axis.key_columns[:key_count])
    order = "ASC" if comparison[0] == ">" else "DESC"
    return (
        f"SELECT {columns} FROM ops WHERE session = ? AND seq IN (SELECT j.value FROM"
        f" {axis.table} r, json_each(r.seqs) j WHERE {key_sql} AND r.first_seq BETWEEN ? AND ?)"
        f" AND +seq {comparison} ? AND ({where}) ORDER BY seq {order} LIMIT ?"
    )


class RunLookup:
    """Operations of one key in seq order, from runs (version 6) or the older indexes.

    ``where`` and ``columns`` are SQL over the ``ops`` table; ``key`` gives the values of
    the axis' ``key_columns`` (the session first, where the axis has one)."""

    def __init__(self, conn: sqlite3.Connection, session_rowid: int) -> None:
        self.conn = conn
        self.session = session_rowid
        row = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'object_runs'"
        ).fetchone()
        self.has_runs = row is not None

    def rows(
        self,
        axis: RunAxis,
        key: Sequence[Any],
        columns: str,
        seq: int,
        *,
        forward: bool,
        inclusive: bool = False,
        where: str = "1",
        params: Sequence[Any] = (),
        limit: int = 1,
    ) -> list[tuple[Any, ...]]:
        """Up to ``limit`` rows after ``seq`` (forward) or before it, nearest first."""
        comparison = (">" if forward else "<") + ("=" if inclusive else "")
        search = _Search(axis, tuple(key), columns, comparison, seq, where, tuple(params), limit)
        return self._run_rows(search) if self.has_runs else self._legacy_rows(search)

    def first(self, axis: RunAxis, key: Sequence[Any], seq: int, **options: Any) -> int | None:
        found = self.rows(axis, key, "seq", seq, limit=1, **options)
        return int(found[0][0]) if found else None

    def members_sql(self, axis: RunAxis, key_count: int) -> str:
        """A condition on ``ops`` (unqualified columns) that holds for the operations of one
        key (or key prefix of ``key_count`` columns); its parameters are the key values."""
        names = axis.key_columns[:key_count]
        if not self.has_runs:
            return "(" + " AND ".join(f"{name} = ?" for name in names) + ")"
        key_sql = " AND ".join(f"r.{name} = ?" for name in names)
        return f"seq IN (SELECT j.value FROM {axis.table} r, json_each(r.seqs) j WHERE {key_sql})"

    def _legacy_rows(self, search: _Search) -> list[tuple[Any, ...]]:
        axis = search.axis
        key_sql = " AND ".join(f"{name} = ?" for name in axis.key_columns[: len(search.key)])
        order = "ASC" if search.comparison[0] == ">" else "DESC"
        # The partial call-site index is left to the planner; the others are named, or
        # SQLite may prefer walking the primary key in seq order.
        indexed = "" if axis is CALLSITE else f"INDEXED BY {axis.legacy_index} "
        sql = (
            f"SELECT {search.columns} FROM ops {indexed}WHERE {key_sql}"
            f" AND seq {search.comparison} ? AND ({search.where}) ORDER BY seq {order}"
            f" LIMIT {int(search.limit)}"
        )
        return self.conn.execute(sql, (*search.key, search.seq, *search.params)).fetchall()

    def _run_rows(self, search: _Search) -> list[tuple[Any, ...]]:
        axis, key, seq = search.axis, search.key, search.seq
        key_sql = " AND ".join(f"r.{name} = ?" for name in axis.key_columns[: len(key)])
        forward = search.comparison[0] == ">"
        sql = run_window_sql(axis, len(key), search.columns, search.comparison, search.where)
        out: list[tuple[Any, ...]] = []
        for low, high in self._windows(axis, key, key_sql, seq, forward):
            found = self.conn.execute(
                sql, (self.session, *key, low, high, seq, *search.params, search.limit - len(out))
            ).fetchall()
            out.extend(found)
            if len(out) >= search.limit:
                break
        return out

    def _windows(
        self, axis: RunAxis, key: Sequence[Any], key_sql: str, seq: int, forward: bool
    ) -> list[tuple[int, int]]:
        """Ranges of ``first_seq`` to search, nearest first, each 4x wider than the last."""
        row = self.conn.execute(
            f"SELECT MIN(first_seq), MAX(first_seq), (SELECT MAX(first_seq) FROM {axis.table} r"
            f" WHERE {key_sql} AND r.first_seq <= ?) FROM {axis.table} r WHERE {key_sql}",
            (*key, seq, *key),
        ).fetchone()
        bottom, top, holder = row
        if bottom is None:
            return []
        windows: list[tuple[int, int]] = []
        width = _FIRST_WINDOW
        if forward:
            low = int(holder) if holder is not None else int(bottom)
            for _ in range(_MAX_WINDOWS):
                if low > top:
                    break
                windows.append((low, low + width - 1))
                low, width = low + width, width * 4
        else:
            high = min(seq, int(top))
            for _ in range(_MAX_WINDOWS):
                if high < bottom:
                    break
                windows.append((high - width + 1, high))
                high, width = high - width, width * 4
        return windows
