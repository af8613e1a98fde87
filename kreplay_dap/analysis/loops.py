"""Reconcile loops and no-op writes.

A *write cycle* of actor A on object X is a successful write of X by A. It is
*justified* when something A read in that reconcile (X itself, objects it got, kinds
it listed) was changed by someone else since A's previous write of X. A loop is at
least ``window`` unjustified cycles in a row: the object keeps being rewritten although
nothing outside the actor changed. Reconcile spans (``span_id``) delimit what was read;
without spans, the actor's reads since its previous write of X stand in for them.

A *read cycle* (requeue without backoff) is a get of X by A at a steady sub-second
period with no write, no error and no external change in between; it needs twice
``window`` repeats. Periodic resyncs (slower than ``requeue_floor_s``) never qualify.
"""

from __future__ import annotations

import itertools
import statistics
from collections import deque
from collections.abc import Iterable
from typing import Any

from kreplay_dap.analysis.bodies import BodyCache
from kreplay_dap.analysis.model import MAX_EVIDENCE, Finding
from kreplay_dap.analysis.rows import ScannedOp
from kreplay_dap.analysis.world import Key, World, collection_keys, is_error, key_text, trim_oldest

MAX_SPAN_READS = 256
MAX_OPEN_SPANS = 4096
SPAN_TRIM_SLACK = 256  # trimmed in steps: one scan per step, not one per span
MAX_ACTOR_READS = 64
MIN_NOOP_WRITES = 3
SWEEP_OBJECTS = 3
MAX_REQUEUE_CANDIDATES = 2000
NOOP_SAMPLE = 32
_CHANGES = frozenset({"create", "update", "patch", "delete"})


class _Track:
    __slots__ = (
        "episode_noops",
        "evidence",
        "labels",
        "last_error_seq",
        "last_read_gap",
        "last_read_seq",
        "last_read_span",
        "last_read_ts",
        "last_span",
        "last_write_seq",
        "noop_evidence",
        "noops",
        "read_evidence",
        "start",
        "streak",
        "times",
    )
    # The current episode's writes, times and labels: set by ``_begin_episode`` before
    # any use (a write cycle joins an episode only after a first write started it).
    evidence: list[int]
    times: list[int]
    labels: dict[str, int]

    def __init__(self) -> None:
        self.last_write_seq = -1
        self.last_span: int | None = None
        self.streak = 0
        # The episode's first write while it is the only one: most writes are justified and
        # restart the episode, so its lists are only built when a second write joins it.
        self.start: ScannedOp | None = None
        self.noops = 0
        self.episode_noops = 0
        self.noop_evidence: list[int] | None = None  # built at the first no-op write
        self.last_read_seq = -1
        self.last_read_ts = 0
        self.last_read_gap: int | None = None
        self.last_read_span: int | None = None
        # The run of quiet, steady reads; None stands for the previous read alone (most
        # reads end a run at once, so a list is only built when a second read joins it).
        self.read_evidence: list[tuple[int, int]] | None = None
        self.last_error_seq = -1


def _label(op: ScannedOp) -> str:
    return f"{op.verb}/{op.subresource}" if op.subresource else op.verb


def _begin_episode(track: _Track, first: ScannedOp) -> None:
    """Builds the lists of an episode that so far had only its first write."""
    track.evidence = [first.seq]
    track.times = [first.ts_ns]
    track.labels = {_label(first): 1}
    track.start = None


class Reads:
    """Which objects each reconcile read: per span, else the actor's recent reads."""

    def __init__(self) -> None:
        self.by_span: dict[int, set[Key]] = {}
        self.by_actor: dict[str, deque[tuple[int, Key]]] = {}

    def note(self, op: ScannedOp, read: Key) -> None:
        """``op`` read ``read``: an object (a get) or a collection (a list)."""
        # The tables only grow when an entry is added: trimmed there.
        span = op.span_id
        if span is not None:
            reads = self.by_span.get(span)
            if reads is None:
                reads = self.by_span[span] = set()
                if len(self.by_span) > MAX_OPEN_SPANS + SPAN_TRIM_SLACK:
                    trim_oldest(self.by_span, MAX_OPEN_SPANS)
            if len(reads) < MAX_SPAN_READS:
                reads.add(read)
        else:
            recent = self.by_actor.get(op.actor)
            if recent is None:
                recent = self.by_actor[op.actor] = deque(maxlen=MAX_ACTOR_READS)
                if len(self.by_actor) > MAX_OPEN_SPANS:
                    trim_oldest(self.by_actor, MAX_OPEN_SPANS)
            recent.append((op.seq, read))

    def inputs(self, op: ScannedOp, since: int) -> Iterable[Key]:
        if op.span_id is not None:
            return self.by_span.get(op.span_id, ())
        recent = self.by_actor.get(op.actor, ())
        return [key for seq, key in reversed(recent) if seq > since]


class LoopDetector:
    """Streams a session; ``finish()`` returns loop and noop-write findings."""

    def __init__(
        self, world: World, bodies: BodyCache, min_repeats: int, floor_s: float, limit: int
    ) -> None:
        self.world = world
        self.bodies = bodies
        self.min_repeats = min_repeats
        self.floor_ns = int(floor_s * 1e9)
        self.limit = limit
        self.reads = Reads()
        self.tracks: dict[tuple[str, Key], _Track] = {}
        self.findings: list[Finding] = []
        self.loops: dict[tuple[str, Key], Finding] = {}
        self.requeues: list[Finding] = []

    def observe(self, op: ScannedOp, key: Key) -> None:
        if op.verb == "watch" or not op.kind:
            return
        if is_error(op):
            self._track(op.actor, key).last_error_seq = op.seq
            return
        self.succeeded(op, key)

    def succeeded(self, op: ScannedOp, key: Key) -> None:
        """A successful operation other than a watch event (the caller checked both)."""
        verb = op.verb
        # A track only where a cycle can happen: lists are inputs, never cycles.
        if verb == "get":
            if key[2]:
                self.got(op, key)
        elif verb == "list":
            self.listed(op, key)
        elif verb in _CHANGES:
            self.wrote(op, key)

    def got(self, op: ScannedOp, key: Key) -> None:
        """A successful get of a named object (the engine calls it directly)."""
        self.reads.note(op, key)
        track = self.tracks.get((op.actor, key)) or self._track(op.actor, key)
        self._read_cycle(op, key, track)

    def listed(self, op: ScannedOp, key: Key) -> None:
        """A successful list: an input of the actor's reconcile."""
        self.reads.note(op, collection_keys(key[0], key[1])[0])

    def wrote(self, op: ScannedOp, key: Key) -> None:
        """A successful create, update, patch or delete."""
        track = self.tracks.get((op.actor, key)) or self._track(op.actor, key)
        self._write_cycle(op, key, track)

    def _track(self, actor: str, key: Key) -> _Track:
        track = self.tracks.get((actor, key))
        if track is None:
            track = _Track()
            self.tracks[(actor, key)] = track
            for (old_actor, old_key), old in self._evict():
                self._close(old_actor, old_key, old)
                self._close_reads(old_actor, old_key, old)
                self._noop_finding(old_actor, old_key, old)
        return track

    def _evict(self) -> list[tuple[tuple[str, Key], _Track]]:
        evicted = []
        for _ in range(max(0, len(self.tracks) - self.limit)):
            oldest = next(iter(self.tracks))
            evicted.append((oldest, self.tracks.pop(oldest)))
        return evicted

    # -- write cycles -------------------------------------------------------------------
    def _write_cycle(self, op: ScannedOp, key: Key, track: _Track) -> None:
        actor = op.actor
        reconciling = op.span_id is not None or track.last_read_seq > track.last_write_seq
        if track.last_write_seq < 0 or not reconciling:
            # Not part of a reconcile of X (a node agent, a user): nothing to loop on.
            if track.streak >= self.min_repeats:
                self._close(actor, key, track)
            self._restart(track, op)
            return
        if op.span_id is not None and op.span_id == track.last_span:
            track.last_write_seq = op.seq  # a second write in the same reconcile
            if track.start is not None:
                _begin_episode(track, track.start)
            label = _label(op)
            track.labels[label] = track.labels.get(label, 0) + 1
            return
        since = track.last_write_seq
        justified = self.world.changed_by_other(key, actor, since) or any(
            self.world.changed_by_other(read, actor, since) for read in self.reads.inputs(op, since)
        )
        if justified or track.last_error_seq > since:
            if track.streak >= self.min_repeats:
                self._close(actor, key, track)
            self._restart(track, op)
            return
        if track.start is not None:
            _begin_episode(track, track.start)
        track.streak += 1
        track.last_write_seq = op.seq
        track.last_span = op.span_id
        label = _label(op)
        track.labels[label] = track.labels.get(label, 0) + 1
        if len(track.evidence) < MAX_EVIDENCE:
            track.evidence.append(op.seq)
        track.times.append(op.ts_ns)
        if len(track.times) > 2 * MAX_EVIDENCE:
            del track.times[MAX_EVIDENCE : MAX_EVIDENCE + 2]
        self._check_noop(op, key, track)

    def _restart(self, track: _Track, op: ScannedOp) -> None:
        track.streak = 0
        track.episode_noops = 0
        track.last_write_seq = op.seq
        track.last_span = op.span_id
        track.start = op

    def _check_noop(self, op: ScannedOp, key: Key, track: _Track) -> None:
        # Decoding every write of a long loop would cost more than it tells: a sample of
        # each episode is enough to name the cause.
        if op.verb not in {"update", "patch"} or track.streak > NOOP_SAMPLE:
            return
        state = self.world.track(key)
        before = self.bodies.flat(state.state_ref if state is not None else None)
        after = self.bodies.flat(op.response_ref or op.request_ref)
        if before is not None and after is not None and before == after:
            track.noops += 1
            track.episode_noops += 1
            if track.noop_evidence is None:
                track.noop_evidence = [op.seq]
            elif len(track.noop_evidence) < MAX_EVIDENCE:
                track.noop_evidence.append(op.seq)

    def _close(self, actor: str, key: Key, track: _Track) -> None:
        if track.streak < self.min_repeats:
            return
        seqs = track.evidence
        gaps = [b - a for a, b in itertools.pairwise(seqs)]
        time_gaps = [b - a for a, b in itertools.pairwise(track.times)]
        period_ops = float(statistics.median(gaps)) if gaps else None
        period_s = statistics.median(time_gaps) / 1e9 if time_gaps else None
        writes = track.streak + 1
        pattern = sorted(track.labels, key=lambda label: -track.labels[label])[:4]
        noop_share = track.episode_noops / max(1, min(track.streak, NOOP_SAMPLE))
        cause_key = "noop-write" if noop_share >= 0.5 else "self-write"
        earlier = self.loops.get((actor, key))
        if earlier is not None:  # another episode of the same loop: one finding per object
            earlier.count += writes
            earlier.last_seq = track.last_write_seq
            earlier.evidence.extend(seqs[: MAX_EVIDENCE - len(earlier.evidence)])
            earlier.fields["episodes"] += 1
            earlier.description = _loop_text(actor, key, earlier.count, earlier.fields)
            return
        fields: dict[str, Any] = {"pattern": pattern, "cause": cause_key, "episodes": 1}
        self.loops[(actor, key)] = Finding(
            "loop", [key_text(key)], seqs[0], track.last_write_seq, writes,
            _loop_text(actor, key, writes, fields), seqs[:MAX_EVIDENCE], "high", [actor],
            period_ops, period_s, fields,
        )  # fmt: skip

    # -- read cycles (requeue without backoff) ------------------------------------------
    def _read_cycle(self, op: ScannedOp, key: Key, track: _Track) -> None:
        span = op.span_id
        if span is not None and span == track.last_read_span:
            return
        previous = track.last_read_seq
        seq, ts = op.seq, op.ts_ns
        gap = ts - track.last_read_ts
        quiet = (
            gap < self.floor_ns  # checked first: most reads are slower, a cheap "no"
            and previous >= 0
            and track.last_write_seq < previous
            and track.last_error_seq < previous
            and not self.world.changed_by_other(key, op.actor, previous)
        )
        last_gap = track.last_read_gap
        reads = track.read_evidence
        if quiet and (last_gap is None or gap <= last_gap * 3 // 2 + 1_000_000):
            if reads is None:
                track.read_evidence = [(previous, track.last_read_ts), (seq, ts)]
            elif len(reads) < MAX_EVIDENCE:
                reads.append((seq, ts))
            track.last_read_gap = gap
        else:
            if reads is not None:
                self._close_reads(op.actor, key, track)
                track.read_evidence = None
            track.last_read_gap = gap if quiet else None
        track.last_read_seq = seq
        track.last_read_ts = ts
        track.last_read_span = span

    def _close_reads(self, actor: str, key: Key, track: _Track) -> None:
        reads = track.read_evidence
        if reads is None or len(reads) < 2 * self.min_repeats:
            return
        seqs = [seq for seq, _ in reads]
        period_ops = float(statistics.median(b - a for a, b in itertools.pairwise(seqs)))
        times = [ts for _, ts in reads]
        period_s = statistics.median(b - a for a, b in itertools.pairwise(times)) / 1e9
        description = (
            f"reconcile loop: {actor or 'an actor'} re-read {key_text(key)} {len(reads)}x "
            f"every {period_s * 1000:.0f} ms with no change and no write; requeue without backoff"
        )
        self.requeues.append(
            Finding(
                "loop", [key_text(key)], seqs[0], seqs[-1], len(reads), description,
                seqs[:MAX_EVIDENCE], "medium", [actor], period_ops, period_s,
                {"pattern": ["get"], "cause": "requeue-without-backoff"},
            )
        )  # fmt: skip
        track.read_evidence = None

    def _noop_finding(self, actor: str, key: Key, track: _Track) -> None:
        seqs = track.noop_evidence
        if track.noops < MIN_NOOP_WRITES or seqs is None:
            return
        description = (
            f"no-op writes: {actor or 'an actor'} wrote {key_text(key)} {track.noops}x changing "
            "only resourceVersion, managedFields or timestamps; compare before writing"
        )
        self.findings.append(
            Finding(
                "noop-write", [key_text(key)], seqs[0], seqs[-1], track.noops, description,
                seqs[:MAX_EVIDENCE], "medium", [actor],
            )
        )  # fmt: skip

    def finish(self) -> list[Finding]:
        for (actor, key), track in self.tracks.items():
            self._close(actor, key, track)
            self._close_reads(actor, key, track)
            self._noop_finding(actor, key, track)
        loops = list(self.loops.values())
        return loops + self.findings + without_sweeps(self.requeues[:MAX_REQUEUE_CANDIDATES])


_CAUSES = {
    "noop-write": "its writes change nothing but resourceVersion, managedFields or times",
    "status": "each status write triggers its own watch event and a new reconcile",
    "self-write": "it rewrites the object although nothing outside it changed",
}


def _loop_text(actor: str, key: Key, writes: int, fields: dict[str, Any]) -> str:
    pattern = [str(label) for label in fields["pattern"]]
    cause = str(fields["cause"])
    if cause == "self-write" and any("status" in label for label in pattern):
        cause = "status"
    episodes = int(str(fields["episodes"]))
    spread = f" in {episodes} episodes" if episodes > 1 else ""
    return (
        f"reconcile loop: {actor or 'an actor'} wrote {key_text(key)} {writes}x{spread} "
        f"({', '.join(pattern)}) with no external change; {_CAUSES[cause]}"
    )


def without_sweeps(candidates: list[Finding]) -> list[Finding]:
    """Drop read cycles that are a resync: the same actor re-reading at least
    ``SWEEP_OBJECTS`` objects of one kind, over overlapping time, at the same period."""
    kept = []
    for finding in candidates:
        kind = finding.objects[0].split("/")[0]
        alike = sum(
            1
            for other in candidates
            if other.actors == finding.actors
            and other.objects[0].split("/")[0] == kind
            and other.first_seq <= finding.last_seq
            and finding.first_seq <= other.last_seq
            and abs((other.period_s or 0) - (finding.period_s or 0))
            <= 0.2 * max(finding.period_s or 0, 1e-3)
        )
        if alike < SWEEP_OBJECTS:
            kept.append(finding)
    return kept
