"""``analyze``: one streaming pass over a session feeding every enabled detector."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator

from kreplay_dap.analysis import offload
from kreplay_dap.analysis.bodies import BodyCache
from kreplay_dap.analysis.conflicts import ConflictDetector
from kreplay_dap.analysis.error_storms import ErrorDetector
from kreplay_dap.analysis.fights import FightDetector
from kreplay_dap.analysis.loops import LoopDetector
from kreplay_dap.analysis.model import SEVERITIES, AnalysisOptions, AnalysisReport, Finding
from kreplay_dap.analysis.races import RaceDetector
from kreplay_dap.analysis.rows import ScannedOp
from kreplay_dap.analysis.scan import Keyed, operations_with_keys
from kreplay_dap.analysis.side import SideResults, gather
from kreplay_dap.analysis.slow import SlowDetector
from kreplay_dap.analysis.world import Key, ObjectTrack, World, lane_of
from recorder.collector import fewer_collections
from recorder.storage.api import Recording
from recorder.storage.reader import KreplayRecording

_UPDATES = frozenset({"create", "update", "patch"})
_RACY = frozenset({"get", "watch", "update", "patch"})
_READS = frozenset({"get", "watch"})
_CHANGES = frozenset({"create", "update", "patch", "delete"})
_SECOND = operator.itemgetter(1)


class _Detectors:
    """The enabled detectors; each one streams and ends with ``finish()``. ``offloaded``:
    the world-free ones (fights, conflicts, errors, slow) run in the reading process."""

    def __init__(self, recording: Recording, options: AnalysisOptions, offloaded: bool) -> None:
        repeats = options.min_repeats()
        limit = options.max_objects
        threshold_ms = options.resolved_threshold_ms() if options.slow else 0.0
        local = not offloaded
        self.world = World(limit)
        self.bodies = BodyCache(recording)
        self.loops = (
            LoopDetector(self.world, self.bodies, repeats, options.requeue_floor_s, limit)
            if options.loops
            else None
        )
        self.fights = (
            FightDetector(self.world, self.bodies, repeats, limit)
            if options.loops and local
            else None
        )
        self.races = RaceDetector(self.world, self.bodies, limit) if options.races else None
        self.conflicts = (
            ConflictDetector(self.bodies, repeats, options.storm_gap_s, limit)
            if options.errors and local
            else None
        )
        self.errors = ErrorDetector(repeats, limit) if local else None
        self.slow = SlowDetector(threshold_ms) if options.slow and local else None

    def side_results(self, options: AnalysisOptions) -> SideResults:
        """What the world-free detectors found, when they ran in this process."""
        return gather(self.fights, self.conflicts, self.slow, self.errors, options.errors)


def analyze(
    recording: Recording, session_id: str, options: AnalysisOptions | None = None
) -> AnalysisReport:
    """Run every enabled detector over one session in a single bounded-memory pass (in two
    processes for large sessions, see ``offload``; the report is the same)."""
    options = options or AnalysisOptions()
    total = recording.session(session_id).op_count
    parallel = offload.wanted(recording, total, options)
    detectors = _Detectors(recording, options, offloaded=parallel)
    report = AnalysisReport(session=session_id)
    reader = None
    try:
        with fewer_collections():
            if parallel and isinstance(recording, KreplayRecording):
                reader = offload.ReaderProcess(recording, session_id, options)
                operations = reader.operations()
            else:
                operations = operations_with_keys(recording, session_id, options.max_objects)
            _stream(operations, detectors, options, total, report)
            processed = report.total_operations - (1 if report.cancelled else 0)
            loops = detectors.loops.finish() if detectors.loops is not None else []
            races = detectors.races.finish() if detectors.races is not None else []
            side = reader.finish(processed) if reader else detectors.side_results(options)
    finally:
        if reader is not None:
            reader.close()
    _assemble(report, loops, races, side, detectors.world.evicted, options, total)
    return report


def _assemble(
    report: AnalysisReport,
    loops: list[Finding],
    races: list[Finding],
    side: SideResults,
    evicted: int,
    options: AnalysisOptions,
    total: int,
) -> None:
    # The detectors' order (loops, fights, races, conflicts, slow, errors) before a stable
    # sort: findings that tie keep it.
    findings = [*loops, *side.fights, *races, *side.conflicts, *side.slow, *side.errors]
    rank = {severity: index for index, severity in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: (rank.get(f.severity, len(rank)), f.first_seq, f.type))
    report.findings = findings
    report.errors = side.error_summary
    if options.slow:
        report.slow_operations = side.slow_operations
        report.latency = side.latency
    if evicted:
        report.notes.append(
            f"{evicted} objects were forgotten to bound memory (max_objects={options.max_objects})"
        )
    if total and report.total_operations < total and not report.cancelled:
        report.notes.append(f"analysed {report.total_operations} of {total} operations")


def _stream(
    operations: Iterator[Keyed],
    detectors: _Detectors,
    options: AnalysisOptions,
    total: int,
    report: AnalysisReport,
) -> None:
    world, loops, fights = detectors.world, detectors.loops, detectors.fights
    races, slow, objects = detectors.races, detectors.slow, detectors.world.objects
    seen = races.seen if races is not None else {}
    rejected = detectors.conflicts.rejected_rv if detectors.conflicts is not None else {}
    for op, key in _paced(operations, options, total, report):
        (_, _, verb, event, sub, rv, _, _, status, code, _, message, duration, actor, _, _,
         kind, namespace, name) = op  # fmt: skip
        if code >= 400 or status >= 400 or message != "":
            _failed(detectors, op, key, failed=True)
            continue
        if event == "ERROR":
            _failed(detectors, op, key, failed=False)
            continue
        # Success: common verbs on named objects go straight to the detectors' entry points.
        if slow is not None and duration > 0 and verb != "watch":
            slow.timed(op, verb, kind, duration)
        if not (kind and name):
            if verb == "list":
                if loops is not None and kind:
                    loops.listed(op, key)
            else:
                _succeeded(detectors, op, key, objects.get(key) if name else None)
            continue
        state = objects.get(key)  # the object's state before this operation
        if verb == "get":
            if loops is not None:
                loops.got(op, key)
            if races is not None:
                races.saw(op, key, state)
            if rejected:
                rejected.pop((actor, key), None)  # ConflictDetector.observe's re-read
            world.read(op, key, state)
        elif verb == "watch":  # after the actor's own read or write it tells races nothing
            if races is not None and (actor, key) not in seen:
                races.saw(op, key, state)
            if rejected:
                rejected.pop((actor, key), None)
            world.read(op, key, state)
        elif verb == "update" or verb == "patch":  # noqa: PLR1714  # two compares, no set
            if state is not None and state.echo is not None:
                world.forget_echo(state, rv)
            lane = (kind, namespace, name, "status" if sub == "status" else "")
            if fights is not None:
                fights.wrote(op, key, lane)
            if loops is not None:
                loops.wrote(op, key)
            if races is not None:
                races.wrote(op, key, state, lane)
            world.wrote(op, key, state)
        else:
            _succeeded(detectors, op, key, state)


def _succeeded(detectors: _Detectors, op: ScannedOp, key: Key, state: ObjectTrack | None) -> None:
    """Any other successful operation (the slow detector has seen it): what the engine's
    fast paths do for gets, watch events, updates and patches of named objects."""
    world, loops, races = detectors.world, detectors.loops, detectors.races
    verb, name, kind, actor = op.verb, op.name, op.kind, op.actor
    if verb in _UPDATES:
        if state is not None and state.echo is not None:
            world.forget_echo(state, op.resource_version)
        if detectors.fights is not None and verb != "create":
            detectors.fights.wrote(op, key, lane_of(key, op.subresource))
    if loops is not None and verb != "watch" and kind:
        loops.succeeded(op, key)
    if (
        races is not None
        and name
        and verb in _RACY
        and (verb != "watch" or (actor, key) not in races.seen)
    ):
        races.succeeded(op, key, state)
    conflicts = detectors.conflicts
    if (
        conflicts is not None
        and conflicts.rejected_rv
        and verb in _READS
        and (verb == "get" or name)
    ):
        conflicts.rejected_rv.pop((actor, key), None)
    if kind:
        if verb in _CHANGES:
            world.wrote(op, key, state)
        elif name and verb in _READS:
            world.read(op, key, state)


def _paced(
    operations: Iterator[Keyed], options: AnalysisOptions, total: int, report: AnalysisReport
) -> Iterator[Keyed]:
    """The operations up to ``max_ops``, reporting progress and stopping when cancelled;
    counts them in ``report.total_operations``. Chained in C: Python runs once per
    ``progress_every`` operations, not once per operation."""
    return itertools.chain.from_iterable(_paced_runs(operations, options, total, report))


def _paced_runs(
    operations: Iterator[Keyed], options: AnalysisOptions, total: int, report: AnalysisReport
) -> Iterator[Iterator[Keyed]]:
    """Runs of operations between progress points; each point's own operation is counted,
    reported and checked for cancellation before it is handed on."""
    every = max(1, options.progress_every)
    max_ops = options.max_ops
    count = 0
    for _ in range(max_ops // every + 2):  # one turn per progress point
        free = min((count // every + 1) * every - 1, max_ops) - count
        if free > 0:
            counter = itertools.count()
            # zip takes one number more than it hands on: the run's length is next - 1.
            yield map(_SECOND, zip(counter, itertools.islice(operations, free), strict=False))
            handed = next(counter) - 1
            count += handed
            if handed < free:
                break  # the session ended
        if count >= max_ops:
            break
        item = next(operations, None)
        if item is None:
            break
        count += 1
        if options.progress is not None:
            options.progress(count, total)
        if options.cancel is not None and options.cancel():
            report.cancelled = True
            break
        yield iter((item,))
    report.total_operations = count
    if options.progress is not None:
        options.progress(count, total)


def _failed(detectors: _Detectors, op: ScannedOp, key: Key, failed: bool) -> None:
    """A failed operation or an ERROR watch event: no detector takes it as a change."""
    verb = op.verb
    if detectors.loops is not None and verb != "watch" and op.kind:
        detectors.loops.observe(op, key)
    if detectors.conflicts is not None and (failed or verb in _READS):
        detectors.conflicts.observe(op, key)
    if detectors.errors is not None:
        detectors.errors.observe(op, key)
    if detectors.slow is not None and op.duration_us > 0 and verb != "watch":
        detectors.slow.observe(op)
