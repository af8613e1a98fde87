"""Errors: totals by type, and storms of the same error repeated without backoff.

The same error is the same (actor, verb, object or collection, code). ``window`` or more
of it form a series; the series *backs off* when its gaps grow geometrically by at least
25 % per retry (a least-squares fit of log(gap)). A *storm* has no backoff and a steady
rate (gaps vary by at most half their mean); irregular repeats are reported as such. All
are ``error`` findings; only storms are high severity. 409s belong to the conflict
detector.
"""

from __future__ import annotations

import math
import statistics
from collections import deque

from kreplay_dap.analysis.model import MAX_EVIDENCE, Finding
from kreplay_dap.analysis.rows import ScannedOp
from kreplay_dap.analysis.world import Key, error_code, key_text, trim_oldest

MAX_ERROR_TYPES = 1000
EDGE_GAPS = 32
BACKOFF_GROWTH = 1.25
STEADY_SPREAD = 0.5  # coefficient of variation of the gaps of a storm


class _Series:
    __slots__ = ("count", "early", "evidence", "first_seq", "last_seq", "last_ts", "late", "text")

    def __init__(self, op: ScannedOp, text: str) -> None:
        self.count = 0
        self.first_seq = op.seq
        self.last_seq = op.seq
        self.last_ts = op.ts_ns
        self.early: list[int] = []
        self.late: deque[int] = deque(maxlen=EDGE_GAPS)
        self.evidence: list[int] = []
        self.text = text


def error_type(op: ScannedOp, code: int) -> str:
    reason = op.error_reason or (op.error_message.split(":")[0][:60] if op.error_message else "")
    return f"{code} {reason}".strip() if code else reason or "error"


def growth_per_retry(series: _Series) -> float:
    """Geometric growth of the gap per retry: a least-squares slope of log(gap)."""
    late_start = series.count - 1 - len(series.late)
    points = [(float(i), math.log(max(gap, 1))) for i, gap in enumerate(series.early)]
    points += [(float(late_start + j), math.log(max(gap, 1))) for j, gap in enumerate(series.late)]
    if len(points) < 2:
        return 1.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return 1.0
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return math.exp(min(slope, 50.0))


class ErrorDetector:
    def __init__(self, min_repeats: int, limit: int) -> None:
        self.min_repeats = min_repeats
        self.limit = limit
        self.total = 0
        self.by_type: dict[str, int] = {}
        self.series: dict[tuple[str, str, Key, int], _Series] = {}

    def observe(self, op: ScannedOp, key: Key) -> None:
        code = error_code(op)
        if not code and op.event_type != "ERROR" and not op.error_message:
            return
        self.total += 1
        text = error_type(op, code)
        if text in self.by_type or len(self.by_type) < MAX_ERROR_TYPES:
            self.by_type[text] = self.by_type.get(text, 0) + 1
        if code == 409:
            return
        target = key if op.name else (op.kind, op.namespace, "")
        series_key = (op.actor, op.verb, target, code)
        series = self.series.get(series_key)
        if series is None:
            series = _Series(op, text)
            self.series[series_key] = series
            if len(self.series) > self.limit:
                trim_oldest(self.series, self.limit)
        elif len(series.early) < EDGE_GAPS:
            series.early.append(op.ts_ns - series.last_ts)
        else:
            series.late.append(op.ts_ns - series.last_ts)
        series.count += 1
        series.last_seq = op.seq
        series.last_ts = op.ts_ns
        if len(series.evidence) < MAX_EVIDENCE:
            series.evidence.append(op.seq)

    def summary(self) -> dict[str, object]:
        return {"total": self.total, "by_type": dict(self.by_type)}

    def finish(self) -> list[Finding]:
        findings = []
        for (actor, verb, target, _code), series in self.series.items():
            if series.count < self.min_repeats:
                continue
            gaps = series.early + list(series.late)
            backoff = growth_per_retry(series) >= BACKOFF_GROWTH
            period_s = statistics.median(gaps) / 1e9
            spread = statistics.pstdev(gaps) / max(1.0, statistics.mean(gaps))
            steady = not backoff and spread <= STEADY_SPREAD
            what = f"{actor or 'an actor'}: {verb} {key_text(target)} failed {series.count}x"
            if backoff:
                description = f"errors retried with backoff: {what} ({series.text}); fix the cause"
            elif steady:
                description = (
                    f"error storm: {what} ({series.text}) every {period_s:.2f} s with no "
                    "backoff; stop retrying or back off"
                )
            else:
                description = f"repeated errors: {what} ({series.text}) at irregular times"
            severity = "high" if steady else ("low" if backoff else "medium")
            findings.append(
                Finding(
                    "error", [key_text(target)], series.first_seq, series.last_seq, series.count,
                    description, series.evidence, severity, [actor],
                    None, period_s, {"backoff": backoff, "steady": steady, "error": series.text},
                )
            )  # fmt: skip
        return findings
