"""Findings of a session, placed on the source lines whose calls are their evidence.

The findings come from the analysis library (``kreplay_dap.analysis.analyze``), run on a
worker thread and cancelled by newer refreshes, so even a million-operation session gets
every detector (the debugger switches to an index-driven loop scan above its
``loopDetection.fullAnalysisMaxOps`` limit instead).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from kreplay_dap.analysis import AnalysisOptions, analyze
from kreplay_dap.analysis.model import Finding
from kreplay_dap.replay.loops import LoopOptions, detect_loops
from recorder.errors import KreplayError
from recorder.storage.api import Recording

log = logging.getLogger(__name__)

MAX_FINDINGS = 500
MAX_EVIDENCE_PER_FINDING = 1000
MAX_EVIDENCE_LOOKUPS = 50_000

TYPE_LABELS = {
    "loop": "reconcile loop",
    "noop-write": "no-op write",
    "fight": "controllers fighting",
    "conflict": "conflict storm",
    "error": "error storm",
    "stale-read": "race (stale read)",
    "lost-update": "race (lost update)",
    "slow": "slow operation",
}

SourceLine = tuple[str, int]  # (recorded file, line)
Cancel = Callable[[], bool]  # True once the caller no longer wants the result
Analyze = Callable[[Recording, str, Cancel], list[Finding]]


class AnalysisCancelled(KreplayError):
    """A newer refresh superseded this analysis; its partial findings are discarded."""


@dataclass(slots=True)
class PlacedFinding:
    """A finding, its number among findings of its type, and where its evidence was made."""

    finding: Finding
    number: int
    first_seq_by_line: dict[SourceLine, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return TYPE_LABELS.get(self.finding.type, self.finding.type)

    @property
    def short(self) -> str:
        return f"{self.finding.type} #{self.number}"

    @property
    def message(self) -> str:
        """``label: explanation``, without doubling a prefix the detector already wrote."""
        description = self.finding.description
        prefix, colon, rest = description.partition(": ")
        if colon and prefix and prefix.lower() in self.label.lower():
            description = rest
        return f"{self.label}: {description}"


def analysis_entry() -> Analyze:
    """How the language server gets a session's findings (a seam the tests hold back)."""
    return session_findings


def session_findings(
    recording: Recording, session_id: str, cancel: Cancel = lambda: False
) -> list[Finding]:
    """The full analysis, whatever the session's size: it runs off the request path."""
    report = analyze(recording, session_id, AnalysisOptions(cancel=cancel))
    if report.cancelled or cancel():
        raise AnalysisCancelled(f"analysis of session {session_id!r} superseded")
    return [
        replace(f, evidence=f.evidence[:MAX_EVIDENCE_PER_FINDING])
        for f in report.findings[:MAX_FINDINGS]
    ]


def index_loop_findings(
    recording: Recording, session_id: str, cancel: Cancel = lambda: False
) -> list[Finding]:
    """Only the index-driven loop scan, whatever the session's size."""
    found = detect_loops(recording, session_id, LoopOptions())
    if cancel():
        raise AnalysisCancelled(f"analysis of session {session_id!r} superseded")
    return found


def place_findings(
    recording: Recording,
    session_id: str,
    analyze: Analyze | None = None,
    cancel: Cancel = lambda: False,
) -> list[PlacedFinding]:
    """Run the detectors and find the call-site line of every evidence operation.

    Raises ``AnalysisCancelled`` when ``cancel()`` turns True before the end."""
    entry = analyze or analysis_entry()
    try:
        findings = entry(recording, session_id, cancel)[:MAX_FINDINGS]
    except KreplayError:
        raise
    except Exception as error:  # a detector bug must not take the language server down
        log.exception("analysis of session %r failed", session_id)
        raise KreplayError(f"analysis of session {session_id!r} failed: {error}") from error
    placed: list[PlacedFinding] = []
    numbers: dict[str, int] = {}
    budget = MAX_EVIDENCE_LOOKUPS
    for finding in sorted(findings, key=lambda item: (item.first_seq, item.type)):
        numbers[finding.type] = numbers.get(finding.type, 0) + 1
        item = PlacedFinding(finding, numbers[finding.type])
        for seq in finding.evidence[: max(budget, 0)]:
            budget -= 1
            op = recording.operation(session_id, seq)
            if op is None or not op.call_site:
                continue
            key = (op.call_site[0].file, op.call_site[0].line)
            item.first_seq_by_line[key] = min(item.first_seq_by_line.get(key, seq), seq)
        placed.append(item)
    return placed
