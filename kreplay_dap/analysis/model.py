"""Result and option types of the analysis library."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from recorder.errors import InvalidInputError

SEVERITIES = ("critical", "high", "medium", "low", "info")
FINDING_TYPES = (
    "loop",
    "noop-write",
    "fight",
    "conflict",
    "error",
    "stale-read",
    "lost-update",
    "slow",
)
LOOP_LIKE = frozenset({"loop", "noop-write", "fight"})
MAX_EVIDENCE = 200
DEFAULT_THRESHOLD_MS = 1000.0
DEFAULT_MIN_REPEATS = 5
# Automatic mode reads sessions of at least this many operations in a second process
# (``kreplay_dap.analysis.offload``); for smaller ones starting it costs what it saves.
PARALLEL_MIN_OPS = 200_000


THRESHOLD_ENV = "REPLAY_SLOW_THRESHOLD"
MAX_THRESHOLD_MS = 1e12  # about 30 years


def slow_threshold_ms(value: float | None = None) -> float:
    """``value``, else ``$REPLAY_SLOW_THRESHOLD``, else 1000 ms: a finite number of
    milliseconds, 0.001 or more (nan and inf are refused like any other bad value)."""
    if value is not None:
        origin, raw = "--threshold", str(value)
    else:
        origin, raw = THRESHOLD_ENV, os.environ.get(THRESHOLD_ENV, "").strip()
        if not raw:
            return DEFAULT_THRESHOLD_MS
    try:
        number = float(raw)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and 0.001 <= number <= MAX_THRESHOLD_MS):
        raise InvalidInputError(
            f"{origin} must be a number of milliseconds from 0.001 to {MAX_THRESHOLD_MS:.0e},"
            f" not {raw!r}"
        )
    return number


def default_threshold_ms() -> float:
    """``REPLAY_SLOW_THRESHOLD`` (milliseconds) when set and valid, else 1000."""
    return slow_threshold_ms(None)


@dataclass(slots=True)
class Finding:
    """One thing worth acting on, with the operations that show it."""

    type: str
    objects: list[str]
    first_seq: int
    last_seq: int
    count: int
    description: str
    evidence: list[int] = field(default_factory=list)
    severity: str = "medium"
    actors: list[str] = field(default_factory=list)
    period_ops: float | None = None
    period_s: float | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "type": self.type,
            "objects": list(self.objects),
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "count": self.count,
            "description": self.description,
            "evidence": list(self.evidence),
            "severity": self.severity,
            "actors": list(self.actors),
        }
        if self.period_ops is not None:
            payload["period_ops"] = round(self.period_ops, 2)
        if self.period_s is not None:
            payload["period_s"] = round(self.period_s, 3)
        payload.update(self.fields)
        return payload


@dataclass(slots=True)
class AnalysisOptions:
    """What to look for and how hard; every field has a safe default.

    ``window`` is the minimum repeat count of a loop, fight, conflict or error storm
    (the Go tool's window size, reinterpreted). ``progress(done, total)`` is called about
    every ``progress_every`` operations; ``cancel()`` returning True stops the pass and
    returns a partial report marked ``cancelled``. ``parallel``: whether a second process
    reads the session and runs the world-free detectors (same report); ``None`` decides
    (a kreplay file of at least ``parallel_min_ops`` operations on a machine with a spare
    CPU), ``False`` never, ``True`` for every kreplay file (tests).
    """

    loops: bool = True
    slow: bool = True
    errors: bool = True
    races: bool = True
    threshold_ms: float | None = None
    window: int | None = None
    max_ops: int = 100_000_000
    requeue_floor_s: float = 1.0
    storm_gap_s: float = 60.0
    max_objects: int = 200_000
    progress: Callable[[int, int], None] | None = None
    cancel: Callable[[], bool] | None = None
    progress_every: int = 20_000
    parallel: bool | None = None
    parallel_min_ops: int = PARALLEL_MIN_OPS

    def resolved_threshold_ms(self) -> float:
        value = self.threshold_ms if self.threshold_ms is not None else default_threshold_ms()
        if value <= 0:
            raise InvalidInputError(f"slow threshold must be positive, got {value}")
        return float(value)

    def min_repeats(self) -> int:
        value = DEFAULT_MIN_REPEATS if self.window is None else self.window
        if not 2 <= value <= 1_000_000:
            raise InvalidInputError(f"window (minimum repeats) must be 2..1000000, got {value}")
        return value


@dataclass(slots=True)
class AnalysisReport:
    """Everything one analysis pass found; iterating it yields the findings."""

    session: str
    total_operations: int = 0
    findings: list[Finding] = field(default_factory=list)
    slow_operations: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, Any] = field(default_factory=lambda: {"total": 0, "by_type": {}})
    latency: list[dict[str, Any]] = field(default_factory=list)
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    def of_type(self, *types: str) -> list[Finding]:
        return [finding for finding in self.findings if finding.type in types]

    @property
    def loops_detected(self) -> list[dict[str, Any]]:
        """The Go tool's loop list: one entry per loop finding."""
        return [
            {
                "object": finding.objects[0] if finding.objects else "",
                "pattern": finding.fields.get("pattern", []),
                "occurrences": finding.count,
                "start_sequence": finding.first_seq,
                "end_sequence": finding.last_seq,
                "period_ops": finding.period_ops,
                "period_s": finding.period_s,
            }
            for finding in self.findings
            if finding.type == "loop"
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "total_operations": self.total_operations,
            "findings": [finding.to_json() for finding in self.findings],
            "slow_operations": list(self.slow_operations),
            "errors": self.errors,
            "loops_detected": self.loops_detected,
            "latency": list(self.latency),
            "cancelled": self.cancelled,
            "notes": list(self.notes),
        }
