"""The detectors that need no ``World``: fights, conflicts, errors and slow calls.

Each of them depends only on the operations it is handed (and on bodies, a pure function
of their handles), never on the other detectors' state, so they can run in the process
that reads the session (``kreplay_dap.analysis.offload``) while the world-based detectors
(loops, races) run in the caller's. ``SideDetectors.feed`` calls each of them on exactly
the operations, and in the order, the engine's single-process pass calls them, so their
findings are the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kreplay_dap.analysis.bodies import BodyCache
from kreplay_dap.analysis.conflicts import ConflictDetector
from kreplay_dap.analysis.error_storms import ErrorDetector
from kreplay_dap.analysis.fights import FightDetector
from kreplay_dap.analysis.model import Finding
from kreplay_dap.analysis.rows import ScannedOp
from kreplay_dap.analysis.slow import SlowDetector
from kreplay_dap.analysis.world import Key, World, lane_of
from recorder.storage.api import Recording

_READS = frozenset({"get", "watch"})


@dataclass(slots=True, frozen=True)
class SideSettings:
    """What the side detectors need of ``AnalysisOptions``, resolved (plain values: it is
    sent to the reading process)."""

    fights: bool
    conflicts: bool
    slow: bool
    error_findings: bool
    repeats: int
    storm_gap_s: float
    max_objects: int
    threshold_ms: float


@dataclass(slots=True)
class SideResults:
    """The side detectors' share of a report, in the engine's order of detectors."""

    fights: list[Finding] = field(default_factory=list)
    conflicts: list[Finding] = field(default_factory=list)
    slow: list[Finding] = field(default_factory=list)
    errors: list[Finding] = field(default_factory=list)
    error_summary: dict[str, Any] = field(default_factory=dict)
    slow_operations: list[dict[str, Any]] = field(default_factory=list)
    latency: list[dict[str, Any]] = field(default_factory=list)


class SideDetectors:
    def __init__(self, recording: Recording, settings: SideSettings) -> None:
        bodies = BodyCache(recording)
        repeats, limit = settings.repeats, settings.max_objects
        self.settings = settings
        # FightDetector keeps the world it is given but never asks it anything.
        self.fights = FightDetector(World(1), bodies, repeats, limit) if settings.fights else None
        self.conflicts = (
            ConflictDetector(bodies, repeats, settings.storm_gap_s, limit)
            if settings.conflicts
            else None
        )
        self.errors = ErrorDetector(repeats, limit)
        self.slow = SlowDetector(settings.threshold_ms) if settings.slow else None

    def feed(self, operations: Iterable[tuple[ScannedOp, Key]]) -> None:
        """The engine's calls of these four detectors for each operation (``_stream``,
        ``_succeeded`` and ``_failed`` route them the same way)."""
        fights, conflicts, errors, slow = self.fights, self.conflicts, self.errors, self.slow
        for op, key in operations:
            (_, _, verb, event, sub, _, _, _, status, code, _, message, duration, actor, _, _,
             kind, _, name) = op  # fmt: skip
            if slow is not None and duration > 0 and verb != "watch":
                slow.timed(op, verb, kind, duration)
            failed = code >= 400 or status >= 400 or message != ""
            if failed or event == "ERROR":
                if conflicts is not None and (failed or verb in _READS):
                    conflicts.observe(op, key)
                errors.observe(op, key)
            elif verb == "update" or verb == "patch":  # noqa: PLR1714
                if fights is not None:
                    fights.wrote(op, key, lane_of(key, sub))
            elif (
                conflicts is not None
                and conflicts.rejected_rv
                and (verb == "get" or (verb == "watch" and name))
            ):
                conflicts.rejected_rv.pop((actor, key), None)  # a re-read

    def results(self) -> SideResults:
        """Each detector's findings (``finish()``) and the report's tables."""
        return gather(
            self.fights, self.conflicts, self.slow, self.errors, self.settings.error_findings
        )


def gather(
    fights: FightDetector | None,
    conflicts: ConflictDetector | None,
    slow: SlowDetector | None,
    errors: ErrorDetector | None,
    error_findings: bool,
) -> SideResults:
    """The world-free detectors' findings (``finish()``) and the report's tables, wherever
    they ran (the analysis process or the reading process)."""
    results = SideResults()
    if fights is not None:
        results.fights = fights.finish()
    if conflicts is not None:
        results.conflicts = conflicts.finish()
    if slow is not None:
        results.slow = slow.finish()
        results.slow_operations = slow.slow_operations()
        results.latency = slow.latency()
    if errors is not None:
        if error_findings:
            results.errors = errors.finish()
        results.error_summary = errors.summary()
    return results
