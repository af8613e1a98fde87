"""Per-object SQL for the kreplay flavour: object ids, the nearest state-bearing operation,
and object lifetimes, from the object runs (or the object index of older files)."""

from __future__ import annotations

import bisect
import sqlite3
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

from recorder.storage.model import ObjectRef
from recorder.storage.runs import OBJECT, VERB_KIND, RunLookup

MAX_CACHED_IDS = 100_000
STATE_PAGE = 512
MAX_OBJECTS = 2_000_000
MAX_DELETES = 5_000_000
# A successful operation on one object (lists and collection deletes say nothing of it).
_SUCCEEDED = "error_code = 0 AND status_code < 400 AND verb NOT IN ('list', 'deletecollection')"
# An operation that can carry the object's state: successful, single object, with a body
# (or a delete, which ends it).
STATE_CONDITION = (
    "error_code = 0 AND status_code < 400 AND verb NOT IN ('list', 'deletecollection')"
    " AND (response_blob IS NOT NULL OR request_blob IS NOT NULL OR verb = 'delete'"
    " OR event_type = 'DELETED')"
)


@dataclass(slots=True)
class ObjectLifetime:
    """When an object existed: ``toggles`` alternates appearance and removal sequence
    numbers (``[created, deleted, re-created, ...]``); after an odd count it exists."""

    ref: ObjectRef
    first_seq: int
    toggles: list[int] = field(default_factory=list)

    def exists_at(self, seq: int) -> bool:
        if len(self.toggles) == 1:
            return self.toggles[0] <= seq
        return bisect.bisect_right(self.toggles, seq) % 2 == 1


def lifetime_from_events(ref: ObjectRef, events: list[tuple[int, bool]]) -> ObjectLifetime:
    """A lifetime from (seq, is_delete) events of successful operations in seq order: a
    delete ends the object, any other successful operation shows it (again)."""
    toggles: list[int] = []
    for seq, deleted in events:
        alive = len(toggles) % 2 == 1
        if alive == deleted:
            toggles.append(seq)
    return ObjectLifetime(ref, toggles[0] if toggles else 0, toggles)


class ObjectIndex:
    """Object-level lookups over one session of a kreplay recording."""

    def __init__(self, conn: sqlite3.Connection, session_rowid: int) -> None:
        self.conn = conn
        self.session = session_rowid
        self.runs = RunLookup(conn, session_rowid)
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
        return self.runs.first(
            OBJECT, (object_id,), seq, forward=forward, inclusive=not forward,
            where=STATE_CONDITION,
        )  # fmt: skip

    def state_rows(
        self, ref: ObjectRef, seq: int, forward: bool, max_rows: int
    ) -> Iterator[tuple[int, str, str, int | None, int | None]]:
        """(seq, verb, event_type, response_ref, request_ref) of the state-bearing operations
        after ``seq`` (forward) or at or before it, a page at a time."""
        object_id = self.object_id(ref)
        if object_id is None:
            return
        inclusive = not forward
        for _ in range(max_rows // STATE_PAGE + 1):
            rows = self.runs.rows(
                OBJECT, (object_id,), "seq, verb, event_type, response_blob, request_blob", seq,
                forward=forward, inclusive=inclusive, where=STATE_CONDITION, limit=STATE_PAGE,
            )  # fmt: skip
            yield from rows
            if len(rows) < STATE_PAGE:
                return
            seq, inclusive = int(rows[-1][0]), False

    def lifetimes(self) -> list[ObjectLifetime]:
        """Every named object's lifetime from lookups: its first successful operation, and
        for each successful delete the next successful operation that shows it again."""
        events: dict[int, list[tuple[int, bool]]] = {}
        refs: dict[int, ObjectRef] = {}
        for oid, kind, namespace, name, first in self._first_successes():
            if first is not None:
                refs[int(oid)] = ObjectRef(str(kind), str(namespace), str(name))
                events[int(oid)] = [(int(first), False)]
        for oid, seq, back in self._deletes_and_returns():
            if int(oid) in events:
                events[int(oid)].append((int(seq), True))
                if back is not None:
                    events[int(oid)].append((int(back), False))
        lifetimes = []
        for oid, found in events.items():
            found.sort()
            lifetimes.append(lifetime_from_events(refs[oid], found))
        return lifetimes

    def _first_successes(self) -> Iterator[tuple[int, str, str, str, int | None]]:
        """(object, kind, namespace, name, first successful seq) of every named object."""
        if not self.runs.has_runs:
            yield from self.conn.execute(
                "SELECT o.id, o.kind, o.namespace, o.name, (SELECT seq FROM ops INDEXED BY"
                f" ops_by_object WHERE object_id = o.id AND {_SUCCEEDED} ORDER BY seq LIMIT 1)"
                f" FROM objects o WHERE o.session = ? AND o.name != '' LIMIT {MAX_OBJECTS}",
                (self.session,),
            )
            return
        # Nearly always in the object's first run; the rest walk on run by run.
        rows = self.conn.execute(
            "SELECT o.id, o.kind, o.namespace, o.name, (SELECT MIN(seq) FROM ops WHERE"
            " session = o.session AND seq IN (SELECT j.value FROM object_runs r, json_each(r.seqs)"
            " j WHERE r.object_id = o.id AND r.first_seq = (SELECT MIN(first_seq) FROM"
            f" object_runs WHERE object_id = o.id)) AND {_SUCCEEDED}) FROM objects o"
            f" WHERE o.session = ? AND o.name != '' LIMIT {MAX_OBJECTS}",
            (self.session,),
        )
        for oid, kind, namespace, name, in_first_run in rows.fetchall():
            first = in_first_run
            if first is None:
                first = self.runs.first(OBJECT, (oid,), -1, forward=True, where=_SUCCEEDED)
            yield oid, kind, namespace, name, first

    def _deletes_and_returns(self) -> Iterator[tuple[int, int, int | None]]:
        """(object, delete seq, next successful non-delete seq) for each successful delete."""
        if not self.runs.has_runs:
            yield from self._legacy_deletes_and_returns()
            return
        back = f"{_SUCCEEDED} AND verb != 'delete' AND event_type NOT IN ('DELETED', 'ERROR')"
        members = self.runs.members_sql(VERB_KIND, 2)  # every kind of one verb
        for verb, condition in (("delete", "1"), ("watch", "event_type = 'DELETED'")):
            rows = self.conn.execute(
                f"SELECT object_id, seq FROM ops WHERE session = ? AND {members} AND {condition}"
                f" AND error_code = 0 AND status_code < 400 ORDER BY seq LIMIT {MAX_DELETES}",
                (self.session, self.session, verb),
            ).fetchall()
            for oid, seq in rows:
                yield oid, seq, self.runs.first(OBJECT, (oid,), seq, forward=True, where=back)

    def _legacy_deletes_and_returns(self) -> Iterator[tuple[int, int, int | None]]:
        returns = (
            "(SELECT o.seq FROM ops o INDEXED BY ops_by_object WHERE o.object_id = d.object_id"
            f" AND o.seq > d.seq AND {_SUCCEEDED} AND o.verb != 'delete'"
            " AND o.event_type NOT IN ('DELETED', 'ERROR') ORDER BY o.seq LIMIT 1)"
        )
        for condition in ("d.verb = 'delete'", "d.verb = 'watch' AND d.event_type = 'DELETED'"):
            yield from self.conn.execute(
                f"SELECT d.object_id, d.seq, {returns} FROM ops d INDEXED BY ops_by_verb_kind"
                f" WHERE d.session = ? AND {condition} AND d.error_code = 0"
                f" AND d.status_code < 400 LIMIT {MAX_DELETES}",
                (self.session,),
            )
