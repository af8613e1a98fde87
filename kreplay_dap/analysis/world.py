"""What the analysis knows about every object so far: who changed it, when, at which RV.

Detectors ask it before it sees the current operation, so "the state before this write"
is always at hand. Memory is bounded: at most ``max_objects`` objects are tracked; the
oldest are forgotten first and counted in ``evicted``.
"""

from __future__ import annotations

import itertools
from typing import TypeVar

from kreplay_dap.analysis.rows import ScannedOp
from recorder.storage.model import Operation

Key = tuple[str, str, str]
Lane = tuple[str, str, str, str]
UNRECORDED = "<unrecorded>"
ALL = "*"
MAX_ACTORS_PER_OBJECT = 16
MAX_RVS_PER_OBJECT = 32
MAX_SHARED_ACTORS = 10_000
# Tables trimmed on almost every operation are trimmed in steps of this many entries
# (one scan of a dict's oldest entries per step instead of one per operation).
TRIM_SLACK = 8

K = TypeVar("K")
V = TypeVar("V")


def object_key(op: Operation) -> Key:
    return (op.kind, op.namespace, op.name)


_COLLECTIONS: dict[tuple[str, str], tuple[Key, Key]] = {}
_MAX_COLLECTIONS_CACHED = 10_000


def collection_keys(kind: str, namespace: str) -> tuple[Key, Key]:
    # Cached: asked on every write and list; shared tuples also keep their strings' hashes.
    keys = _COLLECTIONS.get((kind, namespace))
    if keys is None:
        if len(_COLLECTIONS) >= _MAX_COLLECTIONS_CACHED:
            _COLLECTIONS.clear()
        keys = _COLLECTIONS[(kind, namespace)] = ((kind, namespace or ALL, ALL), (kind, ALL, ALL))
    return keys


def lane_of(key: Key, subresource: str) -> Lane:
    """Status-subresource writes and main-resource writes touch disjoint fields: each is
    its own lane of the object."""
    return (key[0], key[1], key[2], "status" if subresource == "status" else "")


def key_text(key: Key) -> str:
    kind, namespace, name = key
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def rv_number(rv: str) -> int | None:
    return int(rv) if rv.isdigit() else None


def is_error(op: Operation | ScannedOp) -> bool:
    return op.error_code >= 400 or op.status_code >= 400 or op.event_type == "ERROR"


def error_code(op: Operation | ScannedOp) -> int:
    if op.error_code >= 400:
        return op.error_code
    return op.status_code if op.status_code >= 400 else 0


def trim_oldest(table: dict[K, V], limit: int) -> list[V]:
    """Drop the oldest entries beyond ``limit``; returns them so callers can finish them."""
    excess = len(table) - limit
    if excess <= 0:
        return []
    # One walk from the front: next(iter()) after each pop re-walks the freed slots.
    oldest = list(itertools.islice(table, excess))
    return [table.pop(key) for key in oldest]


# A change seen through a read or watch event before the write that made it was recorded
# (the watch thread often records the event first):
# (rv, seq, ((table, previous seq), ...), the state before it).
Echo = tuple[str, int, tuple[tuple[dict[str, int], int | None], ...], int | None]


class ObjectTrack:
    __slots__ = (
        "changes",
        "collection_keys",
        "echo",
        "last_write_end_ns",
        "last_write_seq",
        "last_writer",
        "latest_rv",
        "rv_writers",
        "state_ref",
    )

    def __init__(self, key: Key) -> None:
        self.changes: dict[str, int] = {}
        # The collections it belongs to, named once (every change updates them).
        self.collection_keys = collection_keys(key[0], key[1])
        self.echo: Echo | None = None
        self.rv_writers: dict[str, str] = {}
        self.latest_rv = ""
        self.state_ref: int | None = None
        self.last_writer: str | None = None
        self.last_write_seq = -1
        self.last_write_end_ns = 0


class World:
    """Per-object change history shared by the detectors."""

    def __init__(self, max_objects: int) -> None:
        self.max_objects = max_objects
        self.objects: dict[Key, ObjectTrack] = {}
        self.collections: dict[Key, dict[str, int]] = {}
        self.evicted = 0
        self._actors: dict[str, str] = {}

    def track(self, key: Key) -> ObjectTrack | None:
        return self.objects.get(key)

    def changed_by_other(self, key: Key, actor: str, since: int) -> bool:
        """Whether anybody but ``actor`` changed ``key`` (object or collection) after ``since``."""
        track = self.objects.get(key)
        changes = track.changes if track is not None else self.collections.get(key)
        if not changes:
            return False
        # A plain loop, not any(generator): this runs for most writes and reads.
        for who, seq in changes.items():  # noqa: SIM110
            if seq > since and who != actor:
                return True
        return False

    def _ensure(self, key: Key) -> ObjectTrack:
        track = self.objects.get(key)
        if track is None:
            track = ObjectTrack(key)
            self.objects[key] = track
            if len(self.objects) > self.max_objects:
                self.evicted += len(trim_oldest(self.objects, self.max_objects))
        return track

    def _changed(self, track: ObjectTrack, who: str, seq: int) -> None:
        changes = track.changes
        changes.pop(who, None)
        changes[who] = seq
        if len(changes) > MAX_ACTORS_PER_OBJECT:
            trim_oldest(changes, MAX_ACTORS_PER_OBJECT)
        collections = self.collections
        for collection in track.collection_keys:
            table = collections.get(collection)
            if table is None:
                table = collections[collection] = {}
            table.pop(who, None)
            table[who] = seq
            if len(table) > MAX_ACTORS_PER_OBJECT:
                trim_oldest(table, MAX_ACTORS_PER_OBJECT)
        if len(collections) > self.max_objects:
            trim_oldest(collections, self.max_objects)

    def wrote(self, op: ScannedOp, key: Key, known: ObjectTrack | None = None) -> None:
        """A successful create, update, patch or delete of an object of some kind;
        ``known`` is the object's track when the caller already looked it up."""
        track = known or self.objects.get(key) or self._ensure(key)
        # One string per actor, not one per row: RV tables keep it for every version.
        actor = self._actors.setdefault(op.actor, op.actor)
        if len(self._actors) > MAX_SHARED_ACTORS:
            self._actors.clear()
        self._changed(track, actor, op.seq)
        if op.resource_version:
            track.rv_writers[op.resource_version] = actor
            if len(track.rv_writers) > MAX_RVS_PER_OBJECT + TRIM_SLACK:
                trim_oldest(track.rv_writers, MAX_RVS_PER_OBJECT)
            track.latest_rv = op.resource_version
        deleted = op.verb == "delete"
        track.state_ref = None if deleted else (op.response_ref or op.request_ref)
        track.last_writer = actor
        track.last_write_seq = op.seq
        duration = op.duration_us
        track.last_write_end_ns = op.ts_ns + (duration * 1000 if duration > 0 else 0)

    def read(self, op: ScannedOp, key: Key, known: ObjectTrack | None = None) -> None:
        """A successful get or watch event of a named object of some kind (``known``: as
        in ``wrote``)."""
        track = known or self.objects.get(key) or self._ensure(key)
        rv = op.resource_version
        if not rv or rv in track.rv_writers:
            if rv == track.latest_rv and op.response_ref is not None:
                track.state_ref = op.response_ref
            return
        latest = rv_number(track.latest_rv)
        number = rv_number(rv)
        if latest is not None and number is not None and number < latest:
            return  # a stale read tells nothing new
        track.rv_writers[rv] = UNRECORDED
        if len(track.rv_writers) > MAX_RVS_PER_OBJECT + TRIM_SLACK:
            trim_oldest(track.rv_writers, MAX_RVS_PER_OBJECT)
        track.latest_rv = rv
        before = track.state_ref
        track.state_ref = None if op.event_type == "DELETED" else op.response_ref
        tables = [track.changes, *(self.collections.get(c, {}) for c in track.collection_keys)]
        previous = tuple((table, table.get(UNRECORDED)) for table in tables)
        track.echo = (rv, op.seq, previous, before)
        self._changed(track, UNRECORDED, op.seq)

    def forget_echo(self, track: ObjectTrack, rv: str) -> None:
        """The write that produced the last unrecorded change: it was nobody else's change."""
        echo, track.echo = track.echo, None
        if echo is None or not rv or echo[0] != rv:
            return
        _, seq, tables, before = echo
        track.state_ref = before  # the write's "before" is the state before its echo
        for table, previous in tables:
            if table.get(UNRECORDED) != seq:
                continue  # a later unrecorded change: keep it
            table.pop(UNRECORDED)
            if previous is not None:
                table[UNRECORDED] = previous
