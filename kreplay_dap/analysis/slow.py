"""Slow operations: over a threshold, and outliers of their verb and kind.

Latencies go into log-scale histograms per (verb, kind) (about 9 % resolution), so
p50/p99 cost constant memory. The slowest few of each group are kept; those above both
the group's p99 and ten times its p50 (and at least ``OUTLIER_FLOOR_MS``) are outliers.
"""

from __future__ import annotations

import heapq

from kreplay_dap.analysis.model import MAX_EVIDENCE, Finding
from kreplay_dap.analysis.rows import ScannedOp
from kreplay_dap.analysis.world import key_text

MAX_GROUPS = 2000
TOP_PER_GROUP = 20
MAX_SLOW_LIST = 1000
OUTLIER_FACTOR = 10
OUTLIER_FLOOR_MS = 100.0
HISTOGRAM_BUCKETS = (64 << 3) + 8


class _Group:
    __slots__ = ("floor_us", "histogram", "over", "over_count", "top")

    def __init__(self) -> None:
        # Counts per bucket, indexed by bucket: a 64-bit duration has at most 64 bits.
        self.histogram: list[int] = [0] * HISTOGRAM_BUCKETS
        self.top: list[tuple[int, int, str]] = []
        # What an operation must exceed to enter ``top`` (-1 until it holds its 20).
        self.floor_us = -1
        self.over: list[int] = []
        self.over_count = 0

    # Count and maximum are derived when asked (at the end), not kept per operation: the
    # maximum is always among the slowest few kept in ``top``.
    @property
    def count(self) -> int:
        return sum(self.histogram)

    @property
    def max_us(self) -> int:
        return max(self.top)[0] if self.top else 0

    def percentile_us(self, fraction: float) -> float:
        rank = fraction * sum(self.histogram)
        seen = 0
        for bucket, count in enumerate(self.histogram):
            seen += count
            if count and seen >= rank:
                return bucket_value(bucket)
        return float(self.max_us)


def bucket_value(bucket: int) -> float:
    """The middle of a histogram bucket, in microseconds."""
    if bucket < 16:
        return float(bucket)
    bits, fraction = bucket >> 3, bucket & 7
    return ((8 | fraction) + 0.5) * (1 << (bits - 4))


class SlowDetector:
    def __init__(self, threshold_ms: float) -> None:
        self.threshold_us = int(threshold_ms * 1000)
        self.groups: dict[tuple[str, str], _Group] = {}
        self.slowest: list[tuple[int, int, dict[str, object]]] = []

    def observe(self, op: ScannedOp) -> None:
        duration = op.duration_us
        if duration > 0 and op.verb != "watch":
            self.timed(op, op.verb, op.kind, duration)

    def timed(self, op: ScannedOp, verb: str, kind: str, duration: int) -> None:
        """An operation other than a watch event that took ``duration`` > 0 microseconds
        (the caller checked both and passes the fields it already has)."""
        group = self.groups.get((verb, kind))
        if group is None:
            if len(self.groups) >= MAX_GROUPS:
                return
            group = self.groups[(verb, kind)] = _Group()
        # Log-scale bucket from the bit length plus the next three bits (about 9 %).
        bits = duration.bit_length()
        bucket = duration if bits <= 4 else (bits << 3) | ((duration >> (bits - 4)) & 7)
        try:
            group.histogram[bucket] += 1
        except IndexError:  # over 64 bits: not from SQLite, but a Recording may give it
            group.histogram.extend([0] * (bucket + 1 - len(group.histogram)))
            group.histogram[bucket] += 1
        if duration > group.floor_us:  # most operations stop here: no name text built
            top = group.top
            item = (duration, op.seq, key_text((kind, op.namespace, op.name)))
            if len(top) < TOP_PER_GROUP:
                heapq.heappush(top, item)
                if len(top) == TOP_PER_GROUP:
                    group.floor_us = top[0][0]
            else:
                heapq.heapreplace(top, item)
                group.floor_us = top[0][0]
        if duration >= self.threshold_us:
            group.over_count += 1
            if len(group.over) < MAX_EVIDENCE:
                group.over.append(op.seq)
            self._remember(op)

    def _remember(self, op: ScannedOp) -> None:
        row: dict[str, object] = {
            "sequence": op.seq, "operation": op.verb, "kind": op.kind,
            "namespace": op.namespace, "name": op.name, "actor": op.actor,
            "duration_ms": round(op.duration_us / 1000, 3),
        }  # fmt: skip
        item = (op.duration_us, -op.seq, row)
        if len(self.slowest) < MAX_SLOW_LIST:
            heapq.heappush(self.slowest, item)
        elif item[:2] > self.slowest[0][:2]:
            heapq.heapreplace(self.slowest, item)

    def slow_operations(self) -> list[dict[str, object]]:
        return [row for _, _, row in sorted(self.slowest, key=lambda item: item[:2], reverse=True)]

    def latency(self) -> list[dict[str, object]]:
        rows = []
        for (verb, kind), group in sorted(self.groups.items()):
            rows.append({
                "verb": verb, "kind": kind, "count": group.count,
                "p50_ms": round(group.percentile_us(0.5) / 1000, 3),
                "p99_ms": round(group.percentile_us(0.99) / 1000, 3),
                "max_ms": round(group.max_us / 1000, 3), "over_threshold": group.over_count,
            })  # fmt: skip
        return rows

    def finish(self) -> list[Finding]:
        findings = []
        threshold_ms = self.threshold_us / 1000
        for (verb, kind), group in self.groups.items():
            p50 = group.percentile_us(0.5) / 1000
            p99 = group.percentile_us(0.99) / 1000
            stats = f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {group.max_us / 1000:.0f} ms"
            if group.over_count:
                description = (
                    f"slow {verb} {kind}: {group.over_count} of {group.count} took over "
                    f"{threshold_ms:.0f} ms ({stats})"
                )
                findings.append(
                    self._finding(verb, kind, group, group.over, description, group.over_count)
                )
            floor = max(p99, OUTLIER_FACTOR * p50, OUTLIER_FLOOR_MS) * 1000
            outliers = sorted(
                (seq, name) for us, seq, name in group.top if floor < us < self.threshold_us
            )
            if outliers:
                description = (
                    f"latency outliers of {verb} {kind}: {len(outliers)} far above the usual "
                    f"({stats})"
                )
                seqs = [seq for seq, _ in outliers]
                finding = self._finding(verb, kind, group, seqs, description, len(seqs))
                finding.objects = sorted({name for _, name in outliers})
                finding.severity = "low"
                finding.fields["outlier"] = True
                findings.append(finding)
        return findings

    def _finding(
        self,
        verb: str,
        kind: str,
        group: _Group,
        seqs: list[int],
        description: str,
        count: int,
    ) -> Finding:
        names = sorted({name for us, seq, name in group.top if seq in set(seqs)})
        return Finding(
            "slow", names[:20], min(seqs), max(seqs), count, description,
            seqs[:MAX_EVIDENCE], "medium", [],
            fields={"verb": verb, "kind": kind, "p50_ms": round(group.percentile_us(0.5) / 1000, 3),
                    "p99_ms": round(group.percentile_us(0.99) / 1000, 3)},
        )  # fmt: skip
