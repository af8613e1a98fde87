"""State reconstruction: what an object (or the cluster) looked like after operation N.

Everything goes through per-object index walks (``object_operations``) and decodes only
the bodies a request needs. The cluster view keeps one lifetime record per object (built
once, on first use) so listing the objects that exist at any step never replays history.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kreplay_dap.replay.diff import Change, diff_values
from kreplay_dap.replay.object_index import ObjectLifetime
from kreplay_dap.replay.queries import Queries
from recorder.storage.api import Recording
from recorder.storage.model import ObjectRef, Operation

MAX_VERSION_WALK = 5_000_000
MAX_HISTORY_WALK = 10_000  # operations examined backwards to find an object's last body


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    """An object's content after some operation; ``deleted`` when that op removed it."""

    seq: int
    body: Any
    deleted: bool = False


def is_delete(op: Operation) -> bool:
    return op.verb in ("delete", "deletecollection") or op.event_type == "DELETED"


def version_of(recording: Recording, op: Operation) -> ObjectVersion | None:
    """The object as this operation left it, or None when the op changed/showed nothing."""
    if op.is_error or op.verb in ("list", "deletecollection"):
        return None
    body = recording.body_json(op.response_ref)
    if not _looks_like_object(body, op):
        body = recording.body_json(op.request_ref) if op.verb in ("create", "update") else None
        if not _looks_like_object(body, op):
            body = None
    if is_delete(op):
        return ObjectVersion(op.seq, body, deleted=True)
    return ObjectVersion(op.seq, body) if body is not None else None


def _looks_like_object(body: Any, op: Operation) -> bool:
    if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
        return False
    kind = body.get("kind")
    return kind is None or kind == op.kind or (kind != "Status" and not str(kind).endswith("List"))


class ObjectHistory:
    """Versions of one object, found by walking its operations through the index."""

    def __init__(self, recording: Recording, session_id: str, queries: Queries | None = None):
        self.recording = recording
        self.session_id = session_id
        self.queries = queries if queries is not None and queries.indexed else None

    def version_at(self, ref: ObjectRef, seq: int) -> ObjectVersion | None:
        """The latest version of ``ref`` at or before ``seq``."""
        if self.queries is not None:
            return self._indexed_version_at(ref, seq)
        walk = self.recording.object_operations(self.session_id, ref, start_seq=seq, reverse=True)
        return _first_version(self.recording, walk, seq, forward=False)

    def _indexed_version_at(self, ref: ObjectRef, seq: int) -> ObjectVersion | None:
        """Point lookups: only the operations that can hold state are fetched."""
        assert self.queries is not None
        for _ in range(MAX_HISTORY_WALK):
            found = self.queries.state_seq(ref, seq, forward=False)
            op = None if found is None else self.recording.operation(self.session_id, found)
            if found is None or op is None:
                return None
            version = version_of(self.recording, op)
            if version is not None:
                return version
            seq = found - 1
        return None

    def version_before(self, op: Operation) -> ObjectVersion | None:
        """The version of op's object just before ``op`` ran."""
        if op.seq <= 1:
            return None
        return self.version_at(op.object_ref, op.seq - 1)

    def changes(self, op: Operation) -> tuple[ObjectVersion | None, list[Change]]:
        """Field-level diff from the previous version to the one this op produced."""
        after = version_of(self.recording, op)
        if after is None or after.body is None:
            return after, []
        before = self.version_before(op)
        old = before.body if before is not None and not before.deleted else None
        if after.deleted:
            return after, diff_values(old, None) if old is not None else []
        return after, diff_values(old if old is not None else {}, after.body)

    def versions(self, ref: ObjectRef, seq: int, forward: bool) -> Iterator[ObjectVersion]:
        """Versions after (forward) or at-or-before (backward) ``seq``, in walk order."""
        if self.queries is not None:
            yield from self._indexed_versions(ref, seq, forward)
            return
        start = seq + 1 if forward else seq
        walk = self.recording.object_operations(
            self.session_id, ref, start_seq=start, reverse=not forward
        )
        for op in walk:
            if (forward and op.seq <= seq) or (not forward and op.seq > seq):
                continue
            version = version_of(self.recording, op)
            if version is not None:
                yield version

    def _indexed_versions(self, ref: ObjectRef, seq: int, forward: bool) -> Iterator[ObjectVersion]:
        """Only the columns a version needs, straight from the object index."""
        assert self.queries is not None
        rows = self.queries.state_rows(ref, seq, forward, MAX_VERSION_WALK)
        for found, verb, event_type, response_ref, request_ref in rows:
            op = Operation(
                self.session_id,
                found,
                0,
                verb,
                event_type=event_type,
                kind=ref.kind,
                response_ref=response_ref,
                request_ref=request_ref,
            )
            version = version_of(self.recording, op)
            if version is not None:
                yield version


def _first_version(
    recording: Recording, walk: Iterator[Operation], seq: int, forward: bool
) -> ObjectVersion | None:
    for index, op in enumerate(walk):
        if index >= MAX_HISTORY_WALK:
            return None
        if (not forward and op.seq > seq) or (forward and op.seq < seq):
            continue
        version = version_of(recording, op)
        if version is not None:
            return version
    return None


Grouped = dict[str, dict[str, list[ObjectRef]]]


class ClusterIndex:
    """Which objects exist at a step, grouped by kind then namespace, names sorted.

    Lifetimes are loaded once, on first use, already grouped and sorted, so a step's view is
    one filtering pass; the last step's view is kept for the paged requests that follow."""

    def __init__(self, queries: Queries) -> None:
        self._queries = queries
        self._groups: dict[str, dict[str, list[ObjectLifetime]]] | None = None
        self._view: tuple[int, Grouped] | None = None

    def _load(self) -> dict[str, dict[str, list[ObjectLifetime]]]:
        if self._groups is None:
            lifetimes = self._queries.object_lifetimes()
            lifetimes.sort(key=lambda item: (item.ref.kind, item.ref.namespace, item.ref.name))
            groups: dict[str, dict[str, list[ObjectLifetime]]] = {}
            for lifetime in lifetimes:
                ref = lifetime.ref
                groups.setdefault(ref.kind, {}).setdefault(ref.namespace, []).append(lifetime)
            self._groups = groups
        return self._groups

    def at(self, seq: int) -> Grouped:
        """kind -> namespace -> object refs (sorted by name) existing after operation ``seq``."""
        if self._view is not None and self._view[0] == seq:
            return self._view[1]
        grouped: Grouped = {}
        for kind, namespaces in self._load().items():
            for namespace, lifetimes in namespaces.items():
                refs = [item.ref for item in lifetimes if item.exists_at(seq)]
                if refs:
                    grouped.setdefault(kind, {})[namespace] = refs
        self._view = (seq, grouped)
        return grouped
