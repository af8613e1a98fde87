"""Per-object SQL for the kreplay flavour: object ids, the nearest state-bearing operation,
and object lifetimes built from covering indexes (no scan of operation rows)."""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from recorder.storage.model import ObjectRef

MAX_CACHED_IDS = 100_000
STATE_PAGE = 512
MAX_OBJECTS = 2_000_000
# An operation that can carry the object's state: successful, single object, with a body
# (or a delete, which ends it).
STATE_CONDITION = (
    "error_code = 0 AND status_code < 400 AND verb NOT IN ('list', 'deletecollection')"
    " AND (response_blob IS NOT NULL OR request_blob IS NOT NULL OR verb = 'delete'"
    " OR event_type = 'DELETED')"
)


@dataclass(slots=True)
class ObjectLifetime:
    ref: ObjectRef
    first_seq: int
    last_create_seq: int
    last_delete_seq: int

    def exists_at(self, seq: int) -> bool:
        if self.first_seq > seq:
            return False
        gone = self.last_delete_seq and self.last_delete_seq <= seq
        return not (gone and self.last_create_seq < self.last_delete_seq)


class ObjectIndex:
    """Object-level lookups over one session of a kreplay recording."""

    def __init__(self, conn: sqlite3.Connection, session_rowid: int) -> None:
        self.conn = conn
        self.session = session_rowid
        self._ids: OrderedDict[ObjectRef, int | None] = OrderedDict()

    def object_id(self, ref: ObjectRef) -> int | None:
        if ref in self._ids:
            self._ids.move_to_end(ref)
            return self._ids[ref]
        row = self.conn.execute(
            "SELECT id FROM objects WHERE session = ? AND kind = ? AND namespace = ? AND name = ?",
            (self.session, ref.kind, ref.namespace, ref.name),
        ).fetchone()
        self._ids[ref] = None if row is None else int(row[0])
        if len(self._ids) > MAX_CACHED_IDS:
            self._ids.popitem(last=False)
        return self._ids[ref]

    def state_seq(self, ref: ObjectRef, seq: int, forward: bool) -> int | None:
        """The nearest state-bearing operation on ``ref``: after ``seq`` (forward) or at or
        before it (backward)."""
        object_id = self.object_id(ref)
        if object_id is None:
            return None
        comparison, order = (">", "ASC") if forward else ("<=", "DESC")
        row = self.conn.execute(
            f"SELECT seq FROM ops WHERE object_id = ? AND seq {comparison} ? AND {STATE_CONDITION}"
            f" ORDER BY seq {order} LIMIT 1",
            (object_id, seq),
        ).fetchone()
        return None if row is None else int(row[0])

    def state_rows(
        self, ref: ObjectRef, seq: int, forward: bool, max_rows: int
    ) -> Iterator[tuple[int, str, str, int | None, int | None]]:
        """(seq, verb, event_type, response_ref, request_ref) of the state-bearing operations
        after ``seq`` (forward) or at or before it, paged through the object index."""
        object_id = self.object_id(ref)
        if object_id is None:
            return
        comparison, order = (">", "ASC") if forward else ("<=", "DESC")
        sql = (
            "SELECT seq, verb, event_type, response_blob, request_blob FROM ops"
            f" INDEXED BY ops_by_object WHERE object_id = ? AND seq {comparison} ?"
            f" AND {STATE_CONDITION} ORDER BY seq {order} LIMIT {STATE_PAGE}"
        )
        for _ in range(max_rows // STATE_PAGE + 1):
            rows = self.conn.execute(sql, (object_id, seq)).fetchall()
            yield from rows
            if len(rows) < STATE_PAGE:
                return
            seq = int(rows[-1][0]) if forward else int(rows[-1][0]) - 1

    def lifetimes(self) -> list[ObjectLifetime]:
        refs = {
            int(oid): ObjectRef(str(kind), str(namespace), str(name))
            for oid, kind, namespace, name in self.conn.execute(
                "SELECT id, kind, namespace, name FROM objects WHERE session = ? AND name != ''"
                f" LIMIT {MAX_OBJECTS}",
                (self.session,),
            )
        }
        first = self._first_successful(refs)
        creates = self._last_seq_by_object(
            "verb = 'create'", "verb = 'watch' AND event_type = 'ADDED'"
        )
        deletes = self._last_seq_by_object(
            "verb = 'delete'", "verb = 'watch' AND event_type = 'DELETED'"
        )
        return [
            ObjectLifetime(refs[oid], seq, creates.get(oid, 0), deletes.get(oid, 0))
            for oid, seq in first.items()
        ]

    def _first_successful(self, refs: dict[int, ObjectRef]) -> dict[int, int]:
        """First operation per object (covering index), skipping objects only seen in errors."""
        first: dict[int, int] = {}
        rows = self.conn.execute(
            "SELECT object_id, MIN(seq) FROM ops INDEXED BY ops_by_object"
            " WHERE object_id IN (SELECT id FROM objects WHERE session = ?) GROUP BY object_id",
            (self.session,),
        )
        for oid, seq in rows:
            if int(oid) in refs:
                first[int(oid)] = int(seq)
        failed = {
            int(row[0])
            for row in self.conn.execute(
                "SELECT seq FROM ops WHERE session = ? AND error_code != 0", (self.session,)
            )
        }
        for oid, seq in list(first.items()):
            if seq in failed:
                row = self.conn.execute(
                    "SELECT MIN(seq) FROM ops WHERE object_id = ? AND error_code = 0"
                    " AND status_code < 400",
                    (oid,),
                ).fetchone()
                if row is None or row[0] is None:
                    del first[oid]
                else:
                    first[oid] = int(row[0])
        return first

    def _last_seq_by_object(self, *conditions: str) -> dict[int, int]:
        last: dict[int, int] = {}
        for condition in conditions:
            rows = self.conn.execute(
                f"SELECT object_id, MAX(seq) FROM ops WHERE session = ? AND {condition}"
                " GROUP BY object_id",
                (self.session,),
            )
            for oid, seq in rows:
                last[int(oid)] = max(last.get(int(oid), 0), int(seq))
        return last
