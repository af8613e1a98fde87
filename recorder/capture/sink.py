"""The writer process: reads frames from the operator process and writes the recording.

All parsing, redaction, compression and SQLite work happens here, on another core and
outside the operator's GIL. One frame becomes one transaction. At end of input (the
operator exited or was killed) everything received is committed before exiting.
"""

from __future__ import annotations

import bisect
import json
import os
import signal
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TextIO

from recorder.capture import messages as m
from recorder.capture.convert import Converter, call_frames
from recorder.capture.dechunk import ChunkedDecoder, ChunkingError
from recorder.capture.redact import Redactor, parse_paths
from recorder.capture.routes import Route, parse_route
from recorder.errors import KreplayError
from recorder.storage import CallFrame, Operation, ReconcileSpan, RecordingWriter, SessionInfo

# Failures the sink survives (counted, never fatal): a bad file, a full disk, a lock,
# a malformed message.
SINK_ERRORS = (
    KreplayError, sqlite3.Error, OSError, ValueError, TypeError, KeyError, IndexError,
    AttributeError, OverflowError, UnicodeError, RecursionError,
)  # fmt: skip
_MAX_STREAMS = 10_000
_MAX_SPANS = 100_000
# A call reaches us when it ends, numbered by when it started: operations this much newer
# than the newest one wait a frame or two, so a call that started before them goes first.
HOLD_NS = 250_000_000
_MAX_HELD_OPS = 100_000


@dataclass
class SinkConfig:
    path: str
    session_id: str
    actor: str = ""
    operator: str = ""
    recorder_version: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    max_ops: int = 1_000_000
    max_object_bytes: int = 1 << 20
    redact_paths: list[str] = field(default_factory=list)
    redaction_key: str = ""
    busy_timeout_ms: int = 10_000

    @classmethod
    def from_json(cls, data: Any) -> SinkConfig:
        if not isinstance(data, dict) or not isinstance(data.get("path"), str):
            raise KreplayError("writer configuration must be an object with a path")
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass
class _Stream:
    route: Route
    thread: str
    call_site: tuple[CallFrame, ...]
    span_id: int | None
    buffer: bytearray = field(default_factory=bytearray)
    discarding: bool = False
    # Socket reads (not urllib3's chunks): framing to take off, and the latest piece,
    # held back until we know how much of it the client read.
    decoder: ChunkedDecoder | None = None
    wire: bool = False
    held: tuple[int, bytes] | None = None


@dataclass
class SinkStats:
    written: int = 0
    dropped: int = 0
    failures: int = 0
    oversize: int = 0
    over_cap: int = 0
    skipped: int = 0
    truncated: bool = False
    last_error: str = ""

    def fail(self, error: BaseException, lost: int = 0) -> None:
        self.failures += 1
        self.dropped += lost
        self.last_error = f"{type(error).__name__}: {error}"[:500]


class Sink:
    """Converts messages to operations and spans, and writes them."""

    def __init__(self, config: SinkConfig) -> None:
        self.config = config
        self.stats = SinkStats()
        redactor = Redactor(bytes.fromhex(config.redaction_key), parse_paths(config.redact_paths))
        self.convert = Converter(config.session_id, config.actor, redactor)
        self.max_line_bytes = 2 * config.max_object_bytes + 4096
        self._spans: dict[int, ReconcileSpan] = {}
        self._touched_spans: dict[int, ReconcileSpan] = {}
        self._streams: dict[int, _Stream] = {}
        # Streams holding a piece back: an operation received after it must not go first.
        self._holding: dict[int, _Stream] = {}
        self._next_span_id = 0
        self._unreported_drops = 0
        self._waiting: list[Operation] = []  # sorted by time, written once HOLD_NS older
        self.writer = self._open()

    def _open(self) -> RecordingWriter | None:
        config = self.config
        try:
            writer = RecordingWriter(
                config.path, max_ops=config.max_ops, max_object_bytes=config.max_object_bytes
            )
            # Bounded wait for other replicas' transactions; a longer lock counts a failure.
            writer._conn.execute(f"PRAGMA busy_timeout = {int(config.busy_timeout_ms)}")
            writer.begin_session(
                SessionInfo(
                    config.session_id, operator=config.operator, labels=dict(config.labels),
                    recorder_version=config.recorder_version,
                )
            )  # fmt: skip
        except SINK_ERRORS as error:
            self.stats.fail(error)
            return None
        return writer

    # -- frames -------------------------------------------------------------------------
    def handle(self, frame: list[m.Message]) -> list[dict[str, Any]]:
        """Process one frame in one transaction; returns the replies it asked for."""
        ops: list[Operation] = []
        replies: list[dict[str, Any]] = []
        ended = everything = False
        for message in frame:
            tag = message[0]
            try:
                if tag == m.FLUSH:
                    self._release_all(ops)  # flushed means in the file, held or not
                    replies.append({"flush": message[1]})
                    everything = True
                elif tag == m.SETTLE:
                    self._release_all(ops)
                    everything = True
                elif tag == m.END:
                    ended = everything = True
                    self._release_all(ops)
                else:
                    self._message(message, ops)
            except SINK_ERRORS as error:
                self.stats.fail(error, lost=1)
                self._unreported_drops += 1
        self._write(self._ready(ops, everything))
        if ended:
            self._end()
            replies.append({"end": True})
        for reply in replies:
            reply["stats"] = self.stats.__dict__.copy()
        return replies

    def _message(self, message: m.Message, ops: list[Operation]) -> None:
        tag = message[0]
        if tag == m.CALL:
            self._release_before(int(message[1]), ops)
            op = self._call(message)
            if op is not None:
                ops.append(op)
        elif tag == m.WATCH_OPEN:
            self._watch_open(message)
        elif tag == m.WATCH_RUN:
            self._watch_run(message, ops)
        elif tag == m.WATCH_CLOSE:
            self._watch_close(message, ops)
        elif tag == m.SPAN_START:
            self._span_start(message)
        elif tag == m.SPAN_END:
            self._span_end(message)
        elif tag == m.DROPPED:  # the operator side counts these in its own stats
            self._unreported_drops += int(message[1])

    def _ready(self, ops: list[Operation], everything: bool) -> list[Operation]:
        """The operations to write now, in time order; the newest wait (``HOLD_NS``)."""
        waiting = self._waiting
        waiting.extend(ops)
        waiting.sort(key=_time)  # stable: one stream's events keep their order
        if everything or len(waiting) > _MAX_HELD_OPS or not waiting:
            self._waiting = []
            return waiting
        split = bisect.bisect_right(waiting, waiting[-1].ts_ns - HOLD_NS, key=_time)
        ready, self._waiting = waiting[:split], waiting[split:]
        return ready

    def _write(self, ops: list[Operation]) -> None:
        writer = self.writer
        if writer is None:
            self.stats.dropped += len(ops)
            return
        try:
            writer.upsert_spans(list(self._touched_spans.values()))
            self._touched_spans.clear()
            if ops and not self.stats.truncated:
                result = writer.append(ops)
                self.stats.written += result.written
                self.stats.oversize += result.oversize
                self.stats.over_cap += result.over_cap
                self.stats.truncated = self.stats.truncated or result.over_cap > 0
            elif ops:
                self.stats.over_cap += len(ops)
            writer.add_dropped(self.config.session_id, self._unreported_drops)
            self._unreported_drops = 0
        except SINK_ERRORS as error:
            self.stats.fail(error, lost=len(ops))
            self._unreported_drops += len(ops)

    def _end(self) -> None:
        if self.writer is None:
            return
        try:
            self.writer.end_session(self.config.session_id)
            self.writer.close()
        except SINK_ERRORS as error:
            self.stats.fail(error)
        self.writer = None

    # -- messages -----------------------------------------------------------------------
    def _span_id(self, token: Any) -> int | None:
        span = self._spans.get(int(token)) if token else None
        return span.span_id if span is not None else None

    def _call(self, message: m.Message) -> Operation | None:
        op = self.convert.call(message, self._span_id(message[14]))
        if op is None:
            self.stats.skipped += 1
        return op

    def _watch_open(self, message: m.Message) -> None:
        _, token, _ts, url, thread, site, span_token, framing = message
        route = parse_route("GET", str(url))
        if route is None or len(self._streams) >= _MAX_STREAMS:
            self.stats.skipped += 1
            return
        stream = _Stream(route, str(thread), call_frames(site), self._span_id(span_token))
        stream.wire = framing in (m.FRAMING_CHUNKED, m.FRAMING_IDENTITY)
        stream.decoder = ChunkedDecoder() if framing == m.FRAMING_CHUNKED else None
        self._streams[int(token)] = stream

    def _watch_run(self, message: m.Message, ops: list[Operation]) -> None:
        """Consecutive watch chunks (of one or more streams); a bad one costs only itself."""
        _, streams, stamps, chunks = message
        for token, ts_ns, chunk in zip(streams, stamps, chunks, strict=True):
            stream = self._streams.get(abs(token))
            if stream is None or not isinstance(chunk, bytes):
                continue
            try:
                self._release_before(int(ts_ns), ops)
                if stream.wire:
                    self._wire_piece(stream, token < 0, ts_ns, chunk, ops)
                else:
                    self._watch_chunk(stream, ts_ns, chunk, ops)
            except SINK_ERRORS as error:
                self.stats.fail(error, lost=1)
                self._unreported_drops += 1

    def _wire_piece(
        self, stream: _Stream, after_gap: bool, ts_ns: int, piece: bytes, ops: list[Operation]
    ) -> None:
        self._release_held(stream, 0, ops)
        if after_gap:
            if stream.decoder is not None:
                stream.decoder.lost_sync()
            stream.buffer.clear()
            stream.discarding = stream.decoder is None  # a cut event: skip to its end
        stream.held = (int(ts_ns), piece)
        self._holding[id(stream)] = stream

    def _release_before(self, ts_ns: int, ops: list[Operation]) -> None:
        """Operations are numbered in the order they are written: pieces held back but
        received before ``ts_ns`` go first, whole (the client has moved on since)."""
        if not self._holding:
            return
        earlier = [stream for stream in self._holding.values()
                   if stream.held is not None and stream.held[0] <= ts_ns]  # fmt: skip
        earlier.sort(key=lambda stream: stream.held[0] if stream.held else 0)
        for stream in earlier:
            self._release_held(stream, 0, ops)

    def _release_held(self, stream: _Stream, unread: int, ops: list[Operation]) -> None:
        """Decode the held piece, less the ``unread`` bytes the client never took."""
        held, stream.held = stream.held, None
        self._holding.pop(id(stream), None)
        if held is None:
            return
        ts_ns, piece = held
        if 0 < unread <= len(piece):
            piece = piece[:-unread]
        body = piece
        if stream.decoder is not None:
            try:
                body = stream.decoder.feed(piece)
            except ChunkingError:
                stream.decoder.lost_sync()
                raise
        if body:
            self._watch_chunk(stream, ts_ns, body, ops)

    def _watch_close(self, message: m.Message, ops: list[Operation]) -> None:
        _, (token, unread) = message
        stream = self._streams.pop(int(token), None)
        if stream is not None:
            self._release_held(stream, int(unread), ops)

    def _release_all(self, ops: list[Operation]) -> None:
        """What the client read of the held pieces is unknown yet: keep all of it."""
        for stream in self._streams.values():
            try:
                self._release_held(stream, 0, ops)
            except SINK_ERRORS as error:
                self.stats.fail(error, lost=1)

    def _watch_chunk(self, stream: _Stream, ts_ns: int, chunk: bytes, ops: list[Operation]) -> None:
        if not stream.buffer and not stream.discarding and chunk.endswith(b"\n"):
            # The API server's usual chunk: whole events; no copy through the buffer.
            self._watch_lines(stream, chunk.split(b"\n"), int(ts_ns), ops)
            return
        stream.buffer += chunk
        if b"\n" not in chunk:
            if len(stream.buffer) > self.max_line_bytes:
                # One event larger than any object we keep: skip to its end.
                stream.buffer.clear()
                stream.discarding = True
                self.stats.oversize += 1
            return
        lines = stream.buffer.split(b"\n")
        stream.buffer = bytearray(lines.pop())
        if stream.discarding:
            lines = lines[1:]
            stream.discarding = False
        self._watch_lines(stream, lines, int(ts_ns), ops)

    def _watch_lines(
        self, stream: _Stream, lines: list[Any], ts_ns: int, ops: list[Operation]
    ) -> None:
        for line in lines:
            if not line.strip():
                continue
            op = self.convert.watch_line(
                bytes(line), ts_ns, stream.route, stream.thread, stream.call_site,
                stream.span_id,
            )  # fmt: skip
            if op is not None:
                ops.append(op)

    def _span_start(self, message: m.Message) -> None:
        _, token, kind, namespace, name, trigger, thread, start_ns = message
        if self.writer is None or len(self._spans) >= _MAX_SPANS:
            return
        self._next_span_id = max(
            self._next_span_id, self.writer.next_span_id(self.config.session_id)
        )
        span = ReconcileSpan(
            self.config.session_id, self._next_span_id, str(kind), str(namespace), str(name),
            actor=self.config.actor, thread=str(thread), trigger=str(trigger),
            start_ns=int(start_ns),
        )  # fmt: skip
        self._next_span_id += 1
        self._spans[int(token)] = span
        self._touched_spans[int(token)] = span

    def _span_end(self, message: m.Message) -> None:
        _, token, end_ns, error = message
        span = self._spans.pop(int(token), None)
        if span is None:
            return
        span.end_ns = int(end_ns)
        span.error = str(error)[:4096]
        self._touched_spans[int(token)] = span


def _time(op: Operation) -> int:
    return op.ts_ns


def run(stdin: BinaryIO, stdout: TextIO) -> int:
    """The writer process's main loop: a config frame, then message frames until EOF."""
    first = m.read_frame(stdin)
    if not first or first[0][0] != 0:
        print(json.dumps({"error": "no configuration frame"}), file=stdout, flush=True)
        return 2
    sink = Sink(SinkConfig.from_json(json.loads(first[0][1])))
    replies = _Replies(stdout)
    replies.send({"ready": True, "stats": sink.stats.__dict__})
    ended = False
    while not ended:
        try:
            frame = m.read_frame(stdin)
        except SINK_ERRORS as error:
            sink.stats.fail(error)
            frame = None
        if frame is None:
            frame = [(m.END, time.time_ns())]  # operator gone: commit and close
        for reply in sink.handle(frame):
            ended = ended or "end" in reply
            replies.send(reply)
    return 0


class _Replies:
    """JSON lines back to the operator process; once it is gone, writing just stops."""

    def __init__(self, stdout: TextIO) -> None:
        self._stdout: TextIO | None = stdout

    def send(self, reply: dict[str, Any]) -> None:
        if self._stdout is None:
            return
        try:
            print(json.dumps(reply), file=self._stdout, flush=True)
        except (BrokenPipeError, ValueError):
            self._stdout = None  # the operator exited; keep committing what it sent


def main() -> int:
    # Ctrl-C and SIGTERM aimed at the operator must not kill us before we commit.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _yield_to_the_operator()
    return run(sys.stdin.buffer, sys.stdout)


def _yield_to_the_operator() -> None:
    """Run only on CPU time nobody else wants; the bounded queue absorbs the delay.

    Any CPU the writer takes while the operator runs slows the operator (a shared core,
    shared caches), even at nice 10. SCHED_IDLE still makes progress on a busy node,
    just behind every normal task; where it is unavailable, fall back to nice 19.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return
    except (AttributeError, OSError) as error:
        print(f"kreplay writer: SCHED_IDLE unavailable ({error})", file=sys.stderr)
    try:
        os.nice(19)
    except OSError as error:
        print(f"kreplay writer: cannot lower priority ({error})", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
