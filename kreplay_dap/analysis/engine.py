"""``analyze``: one streaming pass over a session feeding every enabled detector."""

from __future__ import annotations

from kreplay_dap.analysis.bodies import BodyCache
from kreplay_dap.analysis.conflicts import ConflictDetector
from kreplay_dap.analysis.error_storms import ErrorDetector
from kreplay_dap.analysis.fights import FightDetector
from kreplay_dap.analysis.loops import LoopDetector
from kreplay_dap.analysis.model import SEVERITIES, AnalysisOptions, AnalysisReport, Finding
from kreplay_dap.analysis.races import RaceDetector
from kreplay_dap.analysis.scan import operations_with_keys
from kreplay_dap.analysis.slow import SlowDetector
from kreplay_dap.analysis.world import World
from recorder.storage.api import Recording

_UPDATES = frozenset({"create", "update", "patch"})
_RACY = frozenset({"get", "watch", "update", "patch"})
_READS = frozenset({"get", "watch"})


class _Detectors:
    """The enabled detectors; each one streams and ends with ``finish()``."""

    def __init__(self, recording: Recording, options: AnalysisOptions) -> None:
        repeats = options.min_repeats()
        limit = options.max_objects
        self.world = World(limit)
        self.bodies = BodyCache(recording)
        self.loops = (
            LoopDetector(self.world, self.bodies, repeats, options.requeue_floor_s, limit)
            if options.loops
            else None
        )
        self.fights = (
            FightDetector(self.world, self.bodies, repeats, limit) if options.loops else None
        )
        self.races = RaceDetector(self.world, self.bodies, limit) if options.races else None
        self.conflicts = (
            ConflictDetector(self.bodies, repeats, options.storm_gap_s, limit)
            if options.errors
            else None
        )
        self.errors = ErrorDetector(repeats, limit)
        self.slow = SlowDetector(options.resolved_threshold_ms()) if options.slow else None

    def findings(self) -> list[Finding]:
        found: list[Finding] = []
        for detector in (self.loops, self.fights, self.races, self.conflicts, self.slow):
            if detector is not None:
                found.extend(detector.finish())
        return found


def analyze(
    recording: Recording, session_id: str, options: AnalysisOptions | None = None
) -> AnalysisReport:
    """Run every enabled detector over one session in a single bounded-memory pass."""
    options = options or AnalysisOptions()
    info = recording.session(session_id)
    total = info.op_count
    detectors = _Detectors(recording, options)
    report = AnalysisReport(session=session_id)
    report.total_operations = _stream(recording, session_id, detectors, options, total, report)
    findings = detectors.findings()
    if options.errors:
        findings.extend(detectors.errors.finish())
    rank = {severity: index for index, severity in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: (rank.get(f.severity, len(rank)), f.first_seq, f.type))
    report.findings = findings
    report.errors = detectors.errors.summary()
    if detectors.slow is not None:
        report.slow_operations = detectors.slow.slow_operations()
        report.latency = detectors.slow.latency()
    if detectors.world.evicted:
        report.notes.append(
            f"{detectors.world.evicted} objects were forgotten to bound memory "
            f"(max_objects={options.max_objects})"
        )
    if total and report.total_operations < total and not report.cancelled:
        report.notes.append(f"analysed {report.total_operations} of {total} operations")
    return report


def _stream(
    recording: Recording,
    session_id: str,
    detectors: _Detectors,
    options: AnalysisOptions,
    total: int,
    report: AnalysisReport,
) -> int:
    world, loops, fights, races = (
        detectors.world,
        detectors.loops,
        detectors.fights,
        detectors.races,
    )
    conflicts, errors, slow = detectors.conflicts, detectors.errors, detectors.slow
    every = max(1, options.progress_every)
    max_ops = options.max_ops
    count = 0
    for op, key in operations_with_keys(recording, session_id, options.max_objects):
        if count >= max_ops:
            break
        count += 1
        if count % every == 0:
            if options.progress is not None:
                options.progress(count, total)
            if options.cancel is not None and options.cancel():
                report.cancelled = True
                break
        verb = op.verb
        # Cheap routing, the detectors' own first checks done once here: each detector
        # only sees the verbs (or failures) it reads.
        failed = op.error_code >= 400 or op.status_code >= 400 or op.error_message != ""
        error = failed or op.event_type == "ERROR"
        if verb in _UPDATES and not error:
            world.prepare(op, key)
            if fights is not None and verb != "create":
                fights.observe(op, key)
        if loops is not None and verb != "watch" and op.kind:
            loops.observe(op, key)
        if races is not None and verb in _RACY and not error and op.name:
            races.observe(op, key)
        if conflicts is not None and (failed or verb in _READS):
            conflicts.observe(op, key)
        if error:
            errors.observe(op, key)
        if slow is not None and op.duration_us > 0 and verb != "watch":
            slow.observe(op)
        if not error and op.kind:
            world.observe(op, key)
    if options.progress is not None:
        options.progress(count, total)
    return count
