"""Findings for the debugger: the full analysis, or an index-driven loop scan for huge sessions.

The full analysis (``kreplay_dap.analysis``) streams the whole session. Above
``LoopOptions.full_analysis_max_ops`` the debugger would wait too long for it, so
``detect_loops`` answers instead from the indexes: an object written successfully at
least ``min_repeats`` times in a row where each write changed nothing but status and
server metadata.
"""

from __future__ import annotations

import itertools
import logging
import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from kreplay_dap.analysis import AnalysisOptions, analyze
from kreplay_dap.analysis.model import Finding
from kreplay_dap.replay.diff import diff_values
from kreplay_dap.replay.queries import Queries
from kreplay_dap.replay.state import version_of
from recorder.errors import KreplayError
from recorder.storage.api import Recording
from recorder.storage.model import ObjectRef

log = logging.getLogger(__name__)

MAX_EVIDENCE = 1000
MAX_LOOP_CANDIDATES = 2000
MAX_WRITES_PER_OBJECT = 100_000
MAX_LOOP_GAP_OPS = 1000  # writes further apart than this are not one hot loop
_IGNORED_TOP = frozenset({"status"})
_IGNORED_METADATA = frozenset({"resourceVersion", "managedFields", "generation"})


@dataclass(frozen=True, slots=True)
class LoopOptions:
    enabled: bool = True
    min_repeats: int = 5
    max_candidates: int = MAX_LOOP_CANDIDATES
    # Above this many operations the index-driven built-in detector is used: the full
    # analysis streams the whole session, which takes minutes at a million operations.
    full_analysis_max_ops: int = 200_000


def load_findings(
    recording: Recording,
    session_id: str,
    options: LoopOptions,
    slow_threshold_ms: int = 1000,
    cancel: Callable[[], bool] | None = None,
) -> list[Finding]:
    """The full analysis's findings, or the index-driven loop scan above the size limit."""
    if not options.enabled:
        return []
    size = recording.session(session_id).op_count
    if size > options.full_analysis_max_ops:
        return detect_loops(recording, session_id, options)
    settings = AnalysisOptions(
        threshold_ms=slow_threshold_ms, window=options.min_repeats, cancel=cancel
    )
    try:
        report = analyze(recording, session_id, settings)
    except KreplayError:
        log.exception("the analysis failed; using the index-driven loop scan")
        return detect_loops(recording, session_id, options)
    # The analysis' own findings, severity and periods kept; only the evidence is capped.
    return [replace(f, evidence=f.evidence[:MAX_EVIDENCE]) for f in report.findings[:100_000]]


def loop_label(recording: Recording, session_id: str, finding: Finding) -> str:
    """``reconcile loop: update Widget default/w1 repeated 240x (period 3 ops, 14 s)``."""
    seqs = sorted(finding.evidence) or [finding.first_seq, finding.last_seq]
    first = recording.operation(session_id, seqs[0])
    last = recording.operation(session_id, seqs[-1])
    if first is None or last is None:
        return finding.description
    gaps = [b - a for a, b in itertools.pairwise(seqs)]
    period = int(statistics.median(gaps)) if gaps else 0
    seconds = (last.ts_ns - first.ts_ns) / 1e9
    target = f"{first.namespace}/{first.name}" if first.namespace else first.name
    return (
        f"reconcile loop: {first.verb} {first.kind} {target} repeated {finding.count}\u00d7 "
        f"(period {period} ops, {seconds:.0f} s)"
    )


def detect_loops(recording: Recording, session_id: str, options: LoopOptions) -> list[Finding]:
    """Built-in detector: runs of status-only writes on one object."""
    queries = Queries(recording, session_id)
    candidates = queries.write_counts(options.min_repeats - 1, MAX_LOOP_GAP_OPS)
    candidates = candidates[: options.max_candidates]
    findings: list[Finding] = []
    for ref, _count in candidates:
        finding = _loop_of(recording, session_id, ref, options.min_repeats)
        if finding is not None:
            findings.append(finding)
    findings.sort(key=lambda f: f.first_seq)
    return findings


def _is_status_only(old: Any, new: Any) -> bool:
    for change in diff_values(old, new):
        top = change.path[0] if change.path else None
        if top in _IGNORED_TOP:
            continue
        if top == "metadata" and len(change.path) > 1 and change.path[1] in _IGNORED_METADATA:
            continue
        return False
    return True


def _loop_of(
    recording: Recording, session_id: str, ref: ObjectRef, min_repeats: int
) -> Finding | None:
    best: list[tuple[int, int, str]] = []
    run: list[tuple[int, int, str]] = []
    previous: Any = None
    for index, op in enumerate(recording.object_operations(session_id, ref)):
        if index >= MAX_WRITES_PER_OBJECT:
            break
        version = version_of(recording, op)
        if version is None or version.body is None:
            continue
        if op.is_write and run and op.seq - run[-1][0] > MAX_LOOP_GAP_OPS:
            best, run = max(best, run, key=len), []  # too far apart to be one loop
        if op.is_write and previous is not None and _is_status_only(previous, version.body):
            run.append((op.seq, op.ts_ns, op.verb))
        elif op.is_write:
            best, run = max(best, run, key=len), []
        previous = None if version.deleted else version.body
    best = max(best, run, key=len)
    return _finding(ref, best) if len(best) >= min_repeats else None


def _finding(ref: ObjectRef, run: list[tuple[int, int, str]]) -> Finding:
    seqs = [seq for seq, _, _ in run]
    gaps = [b - a for a, b in itertools.pairwise(seqs)]
    period = int(statistics.median(gaps)) if gaps else 0
    seconds = (run[-1][1] - run[0][1]) / 1e9
    verbs = [verb for _, _, verb in run]
    verb = max(set(verbs), key=verbs.count)
    target = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
    description = (
        f"reconcile loop: {verb} {ref.kind} {target} repeated {len(run)}\u00d7 "
        f"(period {period} ops, {seconds:.0f} s)"
    )
    return Finding(
        "loop", [str(ref)], seqs[0], seqs[-1], len(run), description, seqs[:MAX_EVIDENCE]
    )
