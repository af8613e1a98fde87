"""Races: writes based on stale reads, and writes that revert another actor's change.

For every actor and object we remember the last version the actor saw (get response or
watch event): its resourceVersion, body handle and position. A successful update or
patch is a *candidate* when another actor changed the object after that read; only then
are bodies decoded.

- ``lost-update``: the write puts back a value the actor had read for a field another
  actor changed in between (the other actor's change is lost).
- ``stale-read``: the actor's read returned an older resourceVersion than one already
  written by someone else, and the actor then wrote the object from it.
"""

from __future__ import annotations

from kreplay_dap.analysis.bodies import BodyCache
from kreplay_dap.analysis.model import MAX_EVIDENCE, Finding
from kreplay_dap.analysis.rows import ScannedOp
from kreplay_dap.analysis.world import (
    UNRECORDED,
    Key,
    Lane,
    ObjectTrack,
    World,
    key_text,
    lane_of,
    rv_number,
    trim_oldest,
)

MAX_REVERTED_FIELDS = 10
MAX_ACTORS = 16
_MISSING = object()


class _Seen:
    __slots__ = ("ref", "rv", "seq", "stale_of")

    def __init__(self, seq: int, rv: str, ref: int | None, stale_of: int | None) -> None:
        self.seq = seq
        self.rv = rv
        self.ref = ref
        self.stale_of = stale_of


class _Race:
    __slots__ = ("actors", "count", "evidence", "fields", "first_seq", "last_seq")

    def __init__(self, seq: int) -> None:
        self.count = 0
        self.first_seq = seq
        self.last_seq = seq
        self.evidence: list[int] = []
        self.actors: set[str] = set()
        self.fields: set[str] = set()


class RaceDetector:
    def __init__(self, world: World, bodies: BodyCache, limit: int) -> None:
        self.world = world
        self.bodies = bodies
        self.limit = limit
        self.seen: dict[tuple[str, Key], _Seen] = {}
        self.races: dict[tuple[str, str, Key], _Race] = {}
        self.lane_changes: dict[Lane, dict[str, int]] = {}

    def succeeded(self, op: ScannedOp, key: Key, state: ObjectTrack | None) -> None:
        """A successful get, watch event, update or patch of a named object (checked);
        ``state`` is the world's track of it before this operation."""
        verb = op.verb
        if verb == "get" or (verb == "watch" and (op.actor, key) not in self.seen):
            # A reconcile works on the copy it got, not on events that arrive meanwhile.
            self.saw(op, key, state)
        elif verb != "watch":
            self.wrote(op, key, state, lane_of(key, op.subresource))

    def wrote(self, op: ScannedOp, key: Key, state: ObjectTrack | None, lane: Lane) -> None:
        """A successful update or patch in ``lane`` of ``key``: checked against what the
        actor last saw, then remembered as its latest version and as the lane's latest
        change."""
        pair = (op.actor, key)
        seen = self.seen.get(pair)
        changes = self.lane_changes.get(lane)
        if seen is not None and state is not None:
            self._wrote(op, key, seen, changes, state)
        # The actor knows what it wrote: its next write starts from this version.
        if seen is None:
            self.seen[pair] = _Seen(op.seq, op.resource_version, op.response_ref, None)
        else:  # in place, as in saw
            seen.seq, seen.rv, seen.ref, seen.stale_of = (
                op.seq, op.resource_version, op.response_ref, None
            )  # fmt: skip
        if changes is None:
            changes = self.lane_changes[lane] = {}
        changes.pop(op.actor, None)
        changes[op.actor] = op.seq
        if len(changes) > MAX_ACTORS:
            trim_oldest(changes, MAX_ACTORS)
        if len(self.lane_changes) > self.limit:
            trim_oldest(self.lane_changes, self.limit)

    def saw(self, op: ScannedOp, key: Key, state: ObjectTrack | None) -> None:
        """A get, or a watch event of an object the actor had not seen (engine-checked)."""
        stale_of = None
        rv = op.resource_version
        # The same version as the latest one (the common case) is never stale.
        if state is not None and rv != state.latest_rv and rv.isdigit():
            latest = rv_number(state.latest_rv)
            writer = state.rv_writers.get(state.latest_rv)
            # Stale only if the newer write had completed before this read started
            # (concurrent requests legitimately return either version).
            completed = state.last_write_end_ns <= op.ts_ns
            if (
                latest is not None
                and int(rv) < latest
                and writer not in {None, op.actor}
                and completed
            ):
                stale_of = state.last_write_seq
        # Updated in place, not replaced: no new object per read, and the entry keeps its
        # place in the table as a reassignment would.
        seen = self.seen.get((op.actor, key))
        if seen is not None:
            seen.seq, seen.rv, seen.ref, seen.stale_of = op.seq, rv, op.response_ref, stale_of
            return
        self.seen[(op.actor, key)] = _Seen(op.seq, rv, op.response_ref, stale_of)
        if len(self.seen) > self.limit:
            trim_oldest(self.seen, self.limit)

    def _wrote(
        self,
        op: ScannedOp,
        key: Key,
        seen: _Seen,
        lane: dict[str, int] | None,
        state: ObjectTrack,
    ) -> None:
        # Only a change in the same lane (status subresource or main resource) can be
        # reverted by this write; changes by unrecorded writers count in both lanes.
        other = _changes_since(lane, state.changes, op.actor, seen.seq)
        if not other and seen.stale_of is None:
            return
        reverted = self._reverted(seen.ref, state.state_ref, op)
        if reverted:
            self._record("lost-update", op, key, [seen.seq, *other[-1:], op.seq], reverted)
        elif seen.stale_of is not None:
            self._record("stale-read", op, key, [seen.stale_of, seen.seq, op.seq], [])

    def _reverted(self, basis_ref: int | None, current_ref: int | None, op: ScannedOp) -> list[str]:
        basis = self.bodies.flat(basis_ref)
        current = self.bodies.flat(current_ref)
        after = self.bodies.flat(op.response_ref or op.request_ref)
        if basis is None or current is None or after is None:
            return []
        reverted = []
        for path in sorted({*basis, *current}):
            read, now = basis.get(path, _MISSING), current.get(path, _MISSING)
            if read != now and after.get(path, _MISSING) == read:
                reverted.append(path)
                if len(reverted) >= MAX_REVERTED_FIELDS:
                    break
        return reverted

    def _record(
        self, kind: str, op: ScannedOp, key: Key, seqs: list[int], fields: list[str]
    ) -> None:
        race = self.races.get((kind, op.actor, key))
        if race is None:
            race = _Race(min(seqs))
            self.races[(kind, op.actor, key)] = race
            if len(self.races) > self.limit:
                trim_oldest(self.races, self.limit)
        race.count += 1
        race.last_seq = op.seq
        race.actors.add(op.actor)
        race.fields.update(fields)
        for seq in seqs:
            if len(race.evidence) < MAX_EVIDENCE and seq not in race.evidence:
                race.evidence.append(seq)

    def finish(self) -> list[Finding]:
        findings = []
        for (kind, actor, key), race in self.races.items():
            if kind == "lost-update":
                fields = ", ".join(sorted(race.fields)[:5])
                description = (
                    f"lost update: {actor or 'an actor'} wrote {key_text(key)} from a read made "
                    f"before another actor's change and reverted {fields}; re-read or use a "
                    "resourceVersion precondition"
                )
            else:
                description = (
                    f"stale read: {actor or 'an actor'} read {key_text(key)} at an older "
                    "resourceVersion than already written by another actor, then wrote it"
                )
            findings.append(
                Finding(
                    kind, [key_text(key)], race.first_seq, race.last_seq, race.count,
                    description, sorted(race.evidence), "high", sorted(race.actors),
                    fields={"fields": sorted(race.fields)[:MAX_REVERTED_FIELDS]},
                )
            )  # fmt: skip
        return findings


def _changes_since(
    lane: dict[str, int] | None, object_changes: dict[str, int], actor: str, since: int
) -> list[int]:
    """Seqs of the lane's changes by others after ``since``, in the lane's order, with the
    object's unrecorded change (seen through reads, lane unknown) in place of the lane's."""
    unrecorded = object_changes.get(UNRECORDED)
    other = []
    for who, seq in lane.items() if lane is not None else ():
        if who == UNRECORDED and unrecorded is not None:
            seq = unrecorded  # noqa: PLW2901
        if who != actor and seq > since:
            other.append(seq)
    missing = (lane is None or UNRECORDED not in lane) and actor != UNRECORDED
    if missing and unrecorded is not None and unrecorded > since:
        other.append(unrecorded)
    return other
