"""ReplayEngine: a recorded session as a program you can step through, both ways.

A plain object over the ``Recording`` reader protocol; it knows nothing about DAP. Each
operation is one step. The engine keeps the current position, steps by operation, thread
or reconcile span, runs to the next breakpoint in either direction (merging index-driven
candidate streams), and reconstructs state lazily through per-object index walks.
"""

from __future__ import annotations

import bisect
import heapq
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kreplay_dap.analysis.model import Finding
from kreplay_dap.replay.breakpoints import Breakpoint, log_parts, parse_function_pattern
from kreplay_dap.replay.context import StepContext
from kreplay_dap.replay.diff import MISSING, value_at
from kreplay_dap.replay.expr import compile_expression
from kreplay_dap.replay.hits import HitCounter
from kreplay_dap.replay.loops import LoopOptions, load_findings
from kreplay_dap.replay.queries import Queries, ScanControl
from kreplay_dap.replay.state import ClusterIndex, ObjectHistory
from recorder.errors import InvalidInputError
from recorder.storage.api import Recording
from recorder.storage.model import Operation, ReconcileSpan, SessionInfo

MAX_RUN_CANDIDATES = 50_000_000
MAX_DATA_WALK = 2_000_000
OP_CACHE_SIZE = 256
_REASON_PRIORITY = {"exception": 0, "data": 1, "loop": 2, "function": 3, "source": 4, "callsite": 4}


@dataclass(frozen=True, slots=True)
class EngineOptions:
    slow_threshold_ms: int = 1000
    loops: LoopOptions = field(default_factory=LoopOptions)


@dataclass(slots=True)
class Stop:
    """Where and why a movement ended."""

    seq: int
    reason: (
        str  # step | breakpoint | function breakpoint | data breakpoint | exception | pause | goto
    )
    description: str = ""
    breakpoint_ids: list[int] = field(default_factory=list)
    exception: Breakpoint | None = None
    error: str = ""  # reason "exception" for a failure of the replay itself: what failed


LogSink = Callable[[Breakpoint, int, str], None]


@dataclass(slots=True)
class _Run:
    """One continue / reverse continue: its control and where its messages go."""

    control: ScanControl
    log: LogSink | None = None
    errors: LogSink | None = None
    failed: set[int] = field(default_factory=set)

    def fail(self, bp: Breakpoint, seq: int, text: str) -> None:
        """Report a breakpoint's failure (the first of each breakpoint in this run)."""
        if bp.id not in self.failed and self.errors is not None:
            self.failed.add(bp.id)
            self.errors(bp, seq, f"{text} (later failures of it in this run are not reported)")


def thread_name(actor: str, thread: str) -> str:
    return f"{actor}/{thread}" if thread else (actor or "(no actor)")


class ReplayEngine:
    """Position, movement, breakpoints and state of one recorded session."""

    def __init__(
        self, recording: Recording, session_id: str, options: EngineOptions | None = None
    ) -> None:
        self.recording = recording
        self.session_id = session_id
        self.options = options or EngineOptions()
        self.info: SessionInfo = recording.session(session_id)
        if self.info.first_seq is None or self.info.last_seq is None or not self.info.op_count:
            raise InvalidInputError(f"session {session_id!r} has no operations to replay")
        self.first_seq: int = self.info.first_seq
        self.last_seq: int = self.info.last_seq
        self.position = self.first_seq
        self.queries = Queries(recording, session_id)
        self.history = ObjectHistory(recording, session_id, self.queries)
        self.cluster = ClusterIndex(self.queries)
        self.breakpoints: dict[str, list[Breakpoint]] = {}
        self._ops: OrderedDict[int, Operation] = OrderedDict()
        self._findings: list[Finding] | None = None
        # After a thread step found no further operation: that thread and direction. The
        # stop is shown at the thread's edge step, as if just beyond it (see ``step``).
        self._beyond: tuple[tuple[str, str], bool] | None = None
        self._next_breakpoint_id = 1

    # -- positions ---------------------------------------------------------------------
    def operation(self, seq: int) -> Operation:
        cached = self._ops.get(seq)
        if cached is not None:
            self._ops.move_to_end(seq)
            return cached
        op = self.recording.operation(self.session_id, seq)
        if op is None:
            raise InvalidInputError(f"operation #{seq} is not in session {self.session_id!r}")
        self._ops[seq] = op
        if len(self._ops) > OP_CACHE_SIZE:
            self._ops.popitem(last=False)
        return op

    def current(self) -> Operation:
        return self.operation(self.position)

    def seek(self, seq: int) -> Operation:
        """Move to ``seq`` (or the nearest recorded one after it, for gaps)."""
        if not isinstance(seq, int) or not self.first_seq <= seq <= self.last_seq:
            raise InvalidInputError(
                f"step {seq!r} is outside the session (#{self.first_seq}..#{self.last_seq})"
            )
        if self.recording.operation(self.session_id, seq) is None:
            nearest = self.recording.next_seq(self.session_id, seq)
            seq = nearest if nearest is not None else self.last_seq
        self.position, self._beyond = seq, None
        return self.current()

    def has_step(self, seq: int) -> bool:
        """Whether operation #seq was recorded in this session (seqs may have gaps)."""
        in_range = self.first_seq <= seq <= self.last_seq
        return in_range and self.recording.operation(self.session_id, seq) is not None

    def check_step(self, seq: int) -> int:
        """``seq``, or InvalidInputError saying why there is no such step."""
        if not self.first_seq <= seq <= self.last_seq:
            raise InvalidInputError(
                f"there is no step #{seq}: the session's steps are "
                f"#{self.first_seq}..#{self.last_seq}"
            )
        if self.recording.operation(self.session_id, seq) is None:
            raise InvalidInputError(
                f"there is no step #{seq}: the recording has no operation #{seq} (a gap)"
            )
        return seq

    def return_to(self, seq: int) -> None:
        """Go back to a step known to exist (a failed movement may have left it)."""
        self.position = seq if self.first_seq <= seq <= self.last_seq else self.first_seq
        self._beyond = None

    def callsite_targets(self, file: str, line: int, limit: int) -> list[int]:
        """The steps recorded from ``file:line`` (its top call-site frame), at most ``limit``:
        those after the current step first, then the earlier ones (Jump to Cursor takes the
        first: the next time that line made a call, wrapping round)."""
        seqs = self.queries.callsite_seqs(file, line)
        index = bisect.bisect_right(seqs, self.position)
        return (seqs[index:] + seqs[:index])[:limit]

    def span_of(self, op: Operation) -> ReconcileSpan | None:
        return None if op.span_id is None else self.recording.span(self.session_id, op.span_id)

    # -- stepping ----------------------------------------------------------------------
    def step(
        self,
        forward: bool,
        mode: str = "global",
        control: ScanControl | None = None,
        thread: tuple[str, str] | None = None,
    ) -> Stop:
        """One step: ``global`` (any op), ``thread`` (same actor/thread), ``span`` (out).

        With no further operation on the thread, a ``thread`` or ``span`` step stays on the
        thread's edge step and says so ("end of thread a/b"): the stop is as if just beyond
        the thread's end, so the opposite ``thread`` step right after it comes back to that
        same step ("last step of thread a/b"). Forward then back is the identity there too,
        and a thread step never lands on another thread. A ``global`` step stops at the
        recording's edge."""
        control = control or ScanControl()
        here = self.current()
        key = thread if thread and mode == "thread" else (here.actor, here.thread)
        beyond, self._beyond = self._beyond, None
        if mode == "thread" and beyond == (key, not forward):
            edge = "first" if forward else "last"
            return Stop(self.position, "step", f"{edge} step of thread {thread_name(*key)}")
        target = self._step_target(forward, mode, control, thread)
        if target is None:
            if mode == "global" or control.cancelled:
                return self._edge_stop(forward, control)
            self._beyond = (key, forward)
            return self._thread_edge_stop(forward, thread_name(*key))
        self.position = target
        return Stop(target, "step")

    def _step_target(
        self, forward: bool, mode: str, control: ScanControl, thread: tuple[str, str] | None
    ) -> int | None:
        here = self.current()
        if mode == "thread":
            actor, name = thread or (here.actor, here.thread)
            return self.queries.next_on_thread(actor, name, here.seq, forward, control)
        if mode == "span":
            return self._span_target(here, forward, control)
        if mode not in ("global", "thread", "span"):
            raise InvalidInputError(f"unknown step mode {mode!r}")
        if forward:
            return self.recording.next_seq(self.session_id, here.seq)
        return self.recording.prev_seq(self.session_id, here.seq)

    def _span_target(self, here: Operation, forward: bool, control: ScanControl) -> int | None:
        """Step out: to the last operation of the current reconcile span. At that last
        operation (or outside any span), to the last operation of the thread's next span;
        with no later span, to the thread's next operation. Backwards mirrors it with span
        starts: the span's first operation, else the first of the thread's previous span."""
        span = self.span_of(here)
        edge = None if span is None else (span.end_seq if forward else span.start_seq)
        if edge is not None and (edge > here.seq if forward else edge < here.seq):
            return edge if self.first_seq <= edge <= self.last_seq else None
        edge = self.queries.span_edge(here.actor, here.thread, here.seq, forward)
        if edge is not None and self.first_seq <= edge <= self.last_seq:
            return edge
        return self.queries.next_on_thread(here.actor, here.thread, here.seq, forward, control)

    def _thread_edge_stop(self, forward: bool, thread: str) -> Stop:
        if self.position == (self.last_seq if forward else self.first_seq):
            return Stop(
                self.position, "step", "end of recording" if forward else "start of recording"
            )
        edge = "end" if forward else "start"
        return Stop(self.position, "step", f"{edge} of thread {thread}")

    def _edge_stop(self, forward: bool, control: ScanControl) -> Stop:
        if control.cancelled:
            return Stop(self.position, "pause", "paused")
        self.position = self.last_seq if forward else self.first_seq
        edge = "end of recording" if forward else "start of recording"
        return Stop(self.position, "step", edge)

    # -- breakpoints -------------------------------------------------------------------
    def new_breakpoint_id(self) -> int:
        self._next_breakpoint_id += 1
        return self._next_breakpoint_id - 1

    def set_breakpoints(self, group: str, breakpoints: list[Breakpoint]) -> None:
        """Replace one group (a source file, functions, data, exceptions, loops...)."""
        if breakpoints:
            self.breakpoints[group] = breakpoints
        else:
            self.breakpoints.pop(group, None)

    def active_breakpoints(self) -> list[Breakpoint]:
        return [bp for group in self.breakpoints.values() for bp in group]

    def run(
        self,
        forward: bool,
        control: ScanControl | None = None,
        log: LogSink | None = None,
        errors: LogSink | None = None,
        include_current: bool = False,
    ) -> Stop:
        """Continue (or reverse-continue) to the nearest breakpoint hit, else to the edge.

        ``include_current``: the current step may be the hit (the first run of a session
        that does not stop on entry). ``log`` gets logpoint messages; ``errors`` a condition
        that failed (it counts as false; reported once per breakpoint and run)."""
        control = control or ScanControl()
        run, self._beyond = _Run(control, log, errors), None
        start = self.position - (1 if forward else -1) if include_current else self.position
        heap: list[tuple[int, int, Breakpoint]] = []
        for bp in self.active_breakpoints():
            self._push_candidate(heap, bp, start, forward, control)
        examined: int | None = None
        for _ in range(MAX_RUN_CANDIDATES):
            if not heap or control.cancelled:
                break
            seq = examined = abs(heap[0][0])
            due = [
                heapq.heappop(heap)[2] for _ in range(len(heap)) if heap and abs(heap[0][0]) == seq
            ]
            hits = [bp for bp in due if self._hit(bp, seq, run)]
            for bp in due:
                self._push_candidate(heap, bp, seq, forward, control)
            if hits:
                self.position = seq
                return _stop_for(seq, hits)
            control.tick()
        if control.cancelled and examined is not None:
            self.position = examined  # paused: show how far the search got
        return self._edge_stop(forward, control)

    def _push_candidate(
        self,
        heap: list[tuple[int, int, Breakpoint]],
        bp: Breakpoint,
        seq: int,
        forward: bool,
        control: ScanControl,
    ) -> None:
        found = self.next_candidate(bp, seq, forward, control)
        if found is not None:
            heapq.heappush(heap, (found if forward else -found, bp.id, bp))

    def next_candidate(
        self, bp: Breakpoint, seq: int, forward: bool, control: ScanControl
    ) -> int | None:
        """The next seq after (before) ``seq`` where ``bp`` may fire, by index."""
        if bp.seqs is not None:
            if forward:
                index = bisect.bisect_right(bp.seqs, seq)
                return bp.seqs[index] if index < len(bp.seqs) else None
            index = bisect.bisect_left(bp.seqs, seq)
            return bp.seqs[index - 1] if index > 0 else None
        if bp.watch is not None:
            return self._next_data_change(bp, seq, forward, control)
        if bp.op_filter is not None:
            return self.queries.next_match(bp.op_filter, seq, forward, control)
        return None

    def _hit(self, bp: Breakpoint, seq: int, run: _Run) -> bool:
        if not self._condition_holds(bp, seq, run):
            return False
        if bp.hit_condition is not None:
            number = self._hit_number(bp, seq, run)
            if number is None or not bp.hit_condition.satisfied(number):
                return False
        if bp.log_message is not None:
            if run.log is not None:
                run.log(bp, seq, self.interpolate(bp.log_message, seq))
            return False
        return True

    def _condition_holds(self, bp: Breakpoint, seq: int, run: _Run) -> bool:
        """The condition at ``seq``; one that cannot be evaluated there counts as false."""
        if bp.condition is None:
            return True
        try:
            return bp.condition.is_true(self.context(seq))
        except InvalidInputError as error:
            text = f"breakpoint {bp.description!r}: condition failed at #{seq}: {error}"
            run.fail(bp, seq, f"{text}; counted as false")
            return False

    def _hit_number(self, bp: Breakpoint, seq: int, run: _Run) -> int | None:
        """Which hit of ``bp`` the hit at ``seq`` is, counted from the start of the recording
        (see ``kreplay_dap.replay.hits``); None when the count was cancelled."""
        if bp.seqs is not None and bp.condition is None:
            return bisect.bisect_right(bp.seqs, seq)
        counter = bp.counter = bp.counter or HitCounter(self.first_seq - 1)
        for _ in range(MAX_RUN_CANDIDATES):
            if counter.frontier >= seq:
                return counter.number_at(seq)
            found = self.next_candidate(bp, counter.frontier, True, run.control)
            if run.control.cancelled:
                return None
            if found is None or found > seq:
                counter.frontier = seq  # no candidate in between
            else:
                # ``_hit`` has just found the condition true at ``seq``: not evaluated again.
                held = found == seq or self._condition_holds(bp, found, run)
                counter.examined(found, held)
            run.control.tick()
        return None

    def _next_data_change(
        self, bp: Breakpoint, seq: int, forward: bool, control: ScanControl
    ) -> int | None:
        assert bp.watch is not None
        ref, path = bp.watch.ref, bp.watch.path
        start = self.history.version_at(ref, seq)
        previous: Any = _field(start, path)
        versions = self.history.versions(ref, seq if forward else seq - 1, forward)
        newer_seq: int | None = None
        for index, version in enumerate(versions):
            if index >= MAX_DATA_WALK or not control.tick():
                return None
            value = _field(version, path)
            if forward and value != previous:
                return version.seq
            if not forward and newer_seq is not None and value != previous:
                return newer_seq
            previous, newer_seq = value, version.seq
        if not forward and newer_seq is not None and previous is not MISSING:
            return newer_seq  # the object's first version introduced the field
        return None

    # -- state and expressions ---------------------------------------------------------
    def context(self, seq: int | None = None) -> StepContext:
        return StepContext(self, self.operation(self.position if seq is None else seq))

    def evaluate(self, text: str, seq: int | None = None) -> Any:
        return compile_expression(text).evaluate(self.context(seq))

    def interpolate(self, message: str, seq: int) -> str:
        """Logpoint text: ``{expression}`` parts are evaluated, the rest kept; a part that
        cannot be evaluated shows its error in its place."""
        parts: list[str] = []
        for text, is_expression in log_parts(message):
            if not is_expression:
                parts.append(text)
                continue
            try:
                parts.append(str(self.evaluate(text, seq)))
            except InvalidInputError as error:
                parts.append(f"<{error}>")
        return "".join(parts)

    def find(
        self,
        query: str,
        forward: bool = True,
        control: ScanControl | None = None,
        after: int | None = None,
    ) -> int | None:
        """The next operation matching ``find`` terms or a function pattern, from ``after``
        (default: this step), not including it."""
        op_filter = parse_function_pattern(query)
        start = self.position if after is None else after
        return self.queries.next_match(op_filter, start, forward, control or ScanControl())

    def findings(self) -> list[Finding]:
        """Analysis findings, computed on first use (see ``set_findings`` for background use)."""
        if self._findings is None:
            self._findings = load_findings(
                self.recording, self.session_id, self.options.loops, self.options.slow_threshold_ms
            )
        return self._findings

    def set_findings(self, findings: list[Finding]) -> None:
        self._findings = findings

    @property
    def findings_loaded(self) -> bool:
        return self._findings is not None

    def findings_at(self, seq: int, limit: int = 100) -> list[Finding]:
        """Findings whose span covers ``seq`` (at most ``limit``)."""
        found: list[Finding] = []
        for finding in self.findings():
            if finding.first_seq <= seq <= finding.last_seq:
                found.append(finding)
                if len(found) >= limit:
                    break
        return found


def _field(version: Any, path: tuple[Any, ...]) -> Any:
    if version is None or version.deleted or version.body is None:
        return MISSING
    return value_at(version.body, path)


def _stop_for(seq: int, hits: list[Breakpoint]) -> Stop:
    hits.sort(key=lambda bp: _REASON_PRIORITY.get(bp.kind, 9))
    first = hits[0]
    reason = {
        "exception": "exception",
        "data": "data breakpoint",
        "function": "function breakpoint",
    }.get(first.kind, "breakpoint")
    exception = first if first.kind == "exception" else None
    return Stop(seq, reason, first.description, [bp.id for bp in hits], exception)
