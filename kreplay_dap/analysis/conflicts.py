"""Conflict storms: repeated 409s on one object, and retries with a stale resourceVersion.

409s on one object are grouped into bursts (no gap over ``storm_gap_s``); a burst of
``window`` or more is a storm. A retry that sends the resourceVersion of the actor's
previous rejected write, without reading the object in between, is a *stale retry*:
it can never succeed.
"""

from __future__ import annotations

from kreplay_dap.analysis.bodies import BodyCache
from kreplay_dap.analysis.model import MAX_EVIDENCE, Finding
from kreplay_dap.analysis.rows import ScannedOp
from kreplay_dap.analysis.world import Key, error_code, key_text, trim_oldest


class _Burst:
    __slots__ = ("actors", "count", "evidence", "first_seq", "last_seq", "last_ts", "stale")

    def __init__(self, op: ScannedOp) -> None:
        self.count = 0
        self.first_seq = op.seq
        self.last_seq = op.seq
        self.last_ts = op.ts_ns
        self.evidence: list[int] = []
        self.actors: set[str] = set()
        self.stale = 0


class ConflictDetector:
    def __init__(self, bodies: BodyCache, min_repeats: int, gap_s: float, limit: int) -> None:
        self.bodies = bodies
        self.min_repeats = min_repeats
        self.gap_ns = int(gap_s * 1e9)
        self.limit = limit
        self.bursts: dict[Key, _Burst] = {}
        self.rejected_rv: dict[tuple[str, Key], str] = {}
        self.findings: list[Finding] = []

    def observe(self, op: ScannedOp, key: Key) -> None:
        if op.verb == "get" or (op.verb == "watch" and op.name):
            self.rejected_rv.pop((op.actor, key), None)  # re-read: the next retry is fresh
            return
        if error_code(op) != 409 or op.verb not in {"update", "patch", "create", "delete"}:
            return
        burst = self.bursts.get(key)
        if burst is not None and op.ts_ns - burst.last_ts > self.gap_ns:
            self._close(key, burst)
            burst = None
        if burst is None:
            burst = _Burst(op)
            self.bursts[key] = burst
            for old_key, old in self._evict():
                self._close(old_key, old)
        burst.count += 1
        burst.last_seq = op.seq
        burst.last_ts = op.ts_ns
        burst.actors.add(op.actor)
        if len(burst.evidence) < MAX_EVIDENCE:
            burst.evidence.append(op.seq)
        sent = self.bodies.request_resource_version(op.request_ref) or op.resource_version
        if sent and self.rejected_rv.get((op.actor, key)) == sent:
            burst.stale += 1
        self.rejected_rv[(op.actor, key)] = sent
        if len(self.rejected_rv) > self.limit:
            trim_oldest(self.rejected_rv, self.limit)

    def _evict(self) -> list[tuple[Key, _Burst]]:
        evicted = []
        for _ in range(max(0, len(self.bursts) - self.limit)):
            oldest = next(iter(self.bursts))
            evicted.append((oldest, self.bursts.pop(oldest)))
        return evicted

    def _close(self, key: Key, burst: _Burst) -> None:
        if burst.count < self.min_repeats:
            return
        actors = sorted(burst.actors)
        if burst.stale:
            advice = (
                f"{burst.stale} retries reused the rejected resourceVersion without re-reading;"
                " re-read before retrying"
            )
        else:
            advice = "writers keep racing; retry with a fresh read and backoff, or use patch"
        description = f"conflict storm: {burst.count} 409s on {key_text(key)}; {advice}"
        self.findings.append(
            Finding(
                "conflict", [key_text(key)], burst.first_seq, burst.last_seq, burst.count,
                description, burst.evidence, "high" if burst.stale else "medium", actors,
                fields={"stale_retries": burst.stale},
            )
        )  # fmt: skip

    def finish(self) -> list[Finding]:
        for key, burst in self.bursts.items():
            self._close(key, burst)
        self.bursts.clear()
        return self.findings
