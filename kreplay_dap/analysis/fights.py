"""Controllers fighting: two or more actors alternately set one field to different values.

Only writes that switch the writer of an object are decoded; for each field they change
we remember who set it to what. A *flip* is an actor setting a field another actor set
last, to a different value. ``window`` flips on one field, with at least two *insistent*
actors (each puts back its own earlier value after somebody else changed it), is a
fight; an actor clobbering a field with whatever it last read is a lost update.
"""

from __future__ import annotations

from kreplay_dap.analysis.bodies import BodyCache, changed_paths
from kreplay_dap.analysis.model import MAX_EVIDENCE, Finding
from kreplay_dap.analysis.rows import ScannedOp
from kreplay_dap.analysis.world import Key, Lane, World, key_text, trim_oldest

MAX_FIELDS_PER_OBJECT = 256
MAX_VALUES_PER_FIELD = 8


class _Field:
    __slots__ = (
        "actor",
        "evidence",
        "flips",
        "last_by_actor",
        "repeats",
        "restores",
        "seen",
        "value",
    )

    def __init__(self, actor: str, value: object) -> None:
        self.actor = actor
        self.value = value
        self.flips = 0
        self.repeats = 0
        self.evidence: list[int] = []
        self.seen: dict[tuple[str, str], int] = {}
        self.last_by_actor: dict[str, str] = {}
        self.restores: dict[str, int] = {}

    def insistent_actors(self) -> int:
        """Actors that put back their own earlier value after somebody changed it."""
        return sum(1 for count in self.restores.values() if count > 0)


class _ObjectFights:
    __slots__ = ("actors", "fields", "switches")

    def __init__(self) -> None:
        self.switches = 0
        self.fields: dict[str, _Field] = {}
        self.actors: set[str] = set()


class FightDetector:
    def __init__(self, world: World, bodies: BodyCache, min_flips: int, limit: int) -> None:
        self.world = world
        self.bodies = bodies
        self.min_flips = min_flips
        self.limit = limit
        self.objects: dict[Key, _ObjectFights] = {}
        self.last_writers: dict[Lane, tuple[str, int | None]] = {}

    def wrote(self, op: ScannedOp, key: Key, lane: Lane) -> None:
        """A successful update or patch (the caller checked) in ``lane`` of ``key``: only a
        switch of writer within one lane can be a fight (and is worth decoding)."""
        previous, previous_ref = self.last_writers.get(lane, (None, None))
        self.last_writers[lane] = (op.actor, op.response_ref or op.request_ref)
        if len(self.last_writers) > self.limit:
            trim_oldest(self.last_writers, self.limit)
        if previous is None or previous == op.actor:
            return
        fights = self.objects.get(key)
        if fights is None:
            fights = _ObjectFights()
            self.objects[key] = fights
            if len(self.objects) > self.limit:
                trim_oldest(self.objects, self.limit)
        fights.switches += 1
        # Against the lane's previous write, not the latest event: concurrent writers'
        # events and responses arrive out of resourceVersion order.
        before = self.bodies.flat(previous_ref)
        after = self.bodies.flat(op.response_ref or op.request_ref)
        if before is None or after is None:
            return
        fights.actors.add(op.actor)
        fights.actors.add(previous)
        for path, value in list(changed_paths(before, after).items())[:MAX_FIELDS_PER_OBJECT]:
            self._set(fights, path, op, value, before.get(path), previous)

    def _set(
        self,
        fights: _ObjectFights,
        path: str,
        op: ScannedOp,
        value: object,
        old_value: object,
        old_actor: str,
    ) -> None:
        entry = fights.fields.get(path)
        if entry is None:
            if len(fights.fields) >= MAX_FIELDS_PER_OBJECT:
                return
            entry = _Field(old_actor, old_value)
            fights.fields[path] = entry
        token = (op.actor, repr(value)[:200])
        if entry.actor != op.actor and entry.value != value:
            entry.flips += 1
            if token in entry.seen:
                entry.repeats += 1
            if len(entry.evidence) < MAX_EVIDENCE:
                entry.evidence.append(op.seq)
        if len(entry.seen) < MAX_VALUES_PER_FIELD:
            entry.seen[token] = op.seq
        if entry.last_by_actor.get(op.actor) == token[1] and entry.actor != op.actor:
            entry.restores[op.actor] = entry.restores.get(op.actor, 0) + 1
        if op.actor in entry.last_by_actor or len(entry.last_by_actor) < MAX_VALUES_PER_FIELD:
            entry.last_by_actor[op.actor] = token[1]
        entry.actor = op.actor
        entry.value = value

    def finish(self) -> list[Finding]:
        findings: list[Finding] = []
        for key, fights in self.objects.items():
            contested = [
                (path, entry)
                for path, entry in fights.fields.items()
                if entry.flips >= self.min_flips
                and entry.repeats >= 2
                and entry.insistent_actors() >= 2
            ]
            if not contested:
                continue
            contested.sort(key=lambda item: -item[1].flips)
            path, entry = contested[0]
            actors = sorted(fights.actors)
            seqs = sorted({seq for _, field in contested for seq in field.evidence})
            description = (
                f"controllers fighting: {', '.join(a or '?' for a in actors)} keep setting "
                f"{path} of {key_text(key)} to different values ({entry.flips} flips)"
            )
            findings.append(
                Finding(
                    "fight", [key_text(key)], seqs[0], seqs[-1], entry.flips, description,
                    seqs[:MAX_EVIDENCE], "high", actors,
                    fields={"fields": [p for p, _ in contested[:10]]},
                )
            )  # fmt: skip
        return findings
