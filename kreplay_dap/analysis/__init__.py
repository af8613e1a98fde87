"""Detectors over a recorded session: loops, fights, conflicts, errors, races, slow calls.

Library API (used by the CLI, the DAP server and the language server; keep it stable)::

    from kreplay_dap.analysis import analyze, AnalysisOptions, Finding, AnalysisReport

    report = analyze(recording, session_id, AnalysisOptions(
        loops=True, slow=True, errors=True, races=True,
        threshold_ms=1000,          # slow threshold; None: $REPLAY_SLOW_THRESHOLD or 1000
        window=5,                   # minimum repeats of a loop/fight/storm (None: 5)
        progress=lambda done, total: ..., cancel=lambda: False,
        parallel=None,              # None: a second process for large sessions with a CPU
    ))                              # to spare; False: never; True: always (same report)
    report.findings          # list[Finding], most severe first
    report.slow_operations   # the Go tool's list of slow operations (slowest first)
    report.errors            # {"total": int, "by_type": {"404 NotFound": 3, ...}}
    report.loops_detected    # the Go tool's loop list
    report.to_json()         # the ``kreplay analyze --format json`` object

``Finding``: ``type`` (one of ``FINDING_TYPES``: loop, noop-write, fight, conflict,
error, stale-read, lost-update, slow), ``objects`` ("Kind/namespace/name"),
``first_seq``, ``last_seq``, ``count``, ``description`` (one actionable line),
``evidence`` (operation seqs, at most 200), ``severity`` (critical..info), ``actors``,
``period_ops``/``period_s`` for loops and storms, and ``fields`` (type-specific extras,
merged into the JSON). Iterating a report yields its findings.

Other entry points: ``causality(recording, session_id)`` (write -> watch event ->
reconcile -> write chains) and ``verify_recording(path)`` (integrity checks).

Every detector streams the session once, in sequence order, with bounded per-object
state (``AnalysisOptions.max_objects``); bodies are decoded only for the writes that
are already candidates (unjustified writes, writer switches, writes after another
actor's change, 409s).
"""

from kreplay_dap.analysis.causality import CausalityGraph, causality
from kreplay_dap.analysis.engine import analyze
from kreplay_dap.analysis.model import (
    FINDING_TYPES,
    LOOP_LIKE,
    SEVERITIES,
    AnalysisOptions,
    AnalysisReport,
    Finding,
)
from kreplay_dap.analysis.verify import VerifyReport, verify_recording

__all__ = [
    "FINDING_TYPES",
    "LOOP_LIKE",
    "SEVERITIES",
    "AnalysisOptions",
    "AnalysisReport",
    "CausalityGraph",
    "Finding",
    "VerifyReport",
    "analyze",
    "causality",
    "verify_recording",
]
