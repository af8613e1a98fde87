"""Recording a watch stream at the client's socket file: one copy, and fewer reads.

A watch response's body is read by ``http.client`` through a ``BufferedReader`` over a
``SocketIO``, which urllib3 and the kubernetes client then split into chunks, lines and
events with several Python steps each. Standing in for the ``SocketIO``'s ``readinto``,
the tee reads the socket into the stream's ``PieceRing``, up to ``READ_AHEAD`` bytes at
once (what has arrived: a read never waits for more), queues that piece, and hands it
out in the sizes the socket file asks for (8 KiB). The kernel's copy lands in the ring,
and the tee copies each byte once more, into the socket file's buffer. With a backlog
this takes one system call and one Python step per 64 KiB where the plain client makes
a system call per 8 KiB, and never a step per event. The saved system calls pay for the
copy and the queueing: with a fast stream a recorded client can outrun a plain one.
The bytes still carry HTTP chunk framing; the writer process takes it off
(``dechunk``). Where the ring has no room, recording is paused or the queue is full, the
read goes to the socket file's buffer as it would unrecorded, and is copied from there.

Bytes read ahead but never used by the client (a watch stopped early) are not the
operator's: at close, the socket file's unread bytes and the tee's are counted, and the
writer trims them from the stream's last piece. Events that arrive in one socket read
share its timestamp: the time the operator process received them. A read the full queue
refuses is counted in the events it costs (``events_lost``), as a dropped call counts one.
"""

from __future__ import annotations

import io
from threading import get_ident
from time import time_ns
from typing import TYPE_CHECKING, Any, NamedTuple

from recorder.capture import messages as m

if TYPE_CHECKING:
    from recorder.capture.hooks import CallCapture

_TEE_METHODS = ("release_conn", "close")
# The most one socket read takes into the ring. The client's socket file reads 8 KiB at a
# time; reading more at once costs fewer system calls than the copy out of the ring adds.
READ_AHEAD = 64 << 10


def uninstall(target: Any, names: tuple[str, ...]) -> None:
    """Drop our wrappers from an object, so it and the tap they hold are freed without
    the GC (each wrapper is a bound method that holds the tap, which holds the object)."""
    attributes = getattr(target, "__dict__", None)
    if isinstance(attributes, dict):
        for name in names:
            attributes.pop(name, None)


class SocketFile(NamedTuple):
    response: Any  # http.client's response
    reader: io.BufferedReader  # its socket file
    source: Any  # the SocketIO under that file
    framing: int


def socket_file(raw: Any) -> SocketFile | None:
    """The response's socket file, its raw socket and framing, when we can tee there.

    Anything unusual (no socket file, an encoded body, a patched socket) is left to the
    per-chunk tap, which records what urllib3 hands to the client.
    """
    response = getattr(raw, "_fp", None)  # http.client's response
    reader = getattr(response, "fp", None)
    if type(reader) is not io.BufferedReader or reader.closed:
        return None
    source = reader.raw
    if not (_patchable(source, "readinto") and _patchable(response, "_close_conn")):
        return None
    headers = getattr(raw, "headers", None)
    encoding = headers.get("content-encoding", "") if headers is not None else ""
    chunked = getattr(raw, "chunked", None)
    if not isinstance(encoding, str) or encoding.lower() not in ("", "identity"):
        return None
    if type(chunked) is not bool:
        return None
    framing = m.FRAMING_CHUNKED if chunked else m.FRAMING_IDENTITY
    return SocketFile(response, reader, source, framing)


def _patchable(target: Any, name: str) -> bool:
    """It has the method, as its class's, and an instance dict we can shadow it in."""
    attributes = getattr(target, "__dict__", None)
    return isinstance(attributes, dict) and name not in attributes and hasattr(target, name)


def events_lost(data: bytes, kept: bool, framing: int, broken: bool) -> tuple[int, bool]:
    """Watch events lost to dropped socket reads, each counted where it ends.

    ``data`` is a socket read after the previous read's last byte (an event's ``}`` may
    end one read), ``kept`` whether it reached the queue, ``broken`` whether the event in
    flight before it lost bytes. Returns the events lost and whether the event in flight
    after it is broken. JSON holds no raw newline, so ``}\\n`` ends an event. After a gap
    the writer recovers from the next whole chunk, or in a body without chunks, from the
    line after the next newline.
    """
    ends = data.count(b"}\n")
    if kept:  # only asked while an event is broken: its end is the first one here
        return (1, False) if ends else (0, broken)
    if framing == m.FRAMING_IDENTITY:
        return ends, True
    if not ends:
        return 0, broken or _begins_event(data)
    return ends, _begins_event(data[data.rfind(b"}\n") + 2 :])


def _begins_event(rest: bytes) -> bool:
    """Whether these bytes, after an event's end, start another (its size line or data).

    The body's last chunk ("0") counts as one too: no event follows it to be counted.
    """
    return bool(rest.lstrip(b"\r\n"))  # past the CR LF closing the last chunk


class EventLoss:
    """One stream's count of events lost to dropped pieces (``events_lost``, read by read)."""

    __slots__ = ("broken", "framing", "last")

    def __init__(self, framing: int) -> None:
        self.framing = framing
        self.broken = False  # the event in flight lost bytes to a dropped piece
        self.last = -1  # the latest piece's last byte, if any: an event's "}" may end a read

    def after(self, piece: bytes | memoryview, kept: bool) -> int:
        """Events this piece's fate costs (counted where they end)."""
        lost = 0
        if not kept or self.broken:
            data = (b"" if self.last < 0 else bytes((self.last,))) + bytes(piece)
            lost, self.broken = events_lost(data, kept, self.framing, self.broken)
        self.last = piece[-1]
        return lost

    def skipped(self) -> None:
        """Recording was paused: what it skipped is not lost, so not counted."""
        self.broken = False


def _bytes_of(buffer: Any) -> memoryview:
    """The caller's buffer as bytes: the socket file's is already a view of them."""
    if type(buffer) is memoryview and buffer.format == "B":
        return buffer
    return memoryview(buffer).cast("B")  # whatever bytes-like it is


def _would_block(_buffer: Any) -> None:
    """A socket read that finds nothing: lets ``peek`` show the buffer without reading."""


class SocketTee:
    """One watch stream's socket reads, forwarded as they are to the writer process."""

    def __init__(self, call: CallCapture, raw: Any, target: SocketFile) -> None:
        self.call = call
        self.recorder = call.recorder
        self.raw = raw
        self.response, self.reader, self.source, self.framing = target
        self.pipeline = self.recorder.pipeline
        self.stream_id = self.recorder.new_stream_id()
        self.ring = self.pipeline.take_ring()
        self.closed = False
        self.gap = False  # pieces were dropped since the last one queued
        self.last_kept = False  # the latest piece reached the queue
        self.loss = EventLoss(self.framing)
        self.thread = get_ident()
        self.other_reader = False  # a thread besides the caller's read the stream
        self.unread: int | None = None  # noted as the socket file closes
        self.pending: memoryview | None = None  # read ahead, not handed out yet
        self._readinto = self.source.readinto
        self._close_file = self.response._close_conn
        self._release = raw.release_conn
        self._close = raw.close

    def install(self) -> None:
        """Raises (before changing anything) if the socket file cannot be peeked at."""
        prefix = self._buffered()  # body bytes that arrived with the headers
        self.recorder.emit(self.call.watch_opened(self.stream_id, self.framing), 0)
        self.source.readinto = self.readinto
        self.response._close_conn = self.close_file
        if prefix:
            self._record(prefix)
        self.raw.release_conn = self.release_conn
        self.raw.close = self.close

    def _buffered(self) -> bytes:
        """What the socket file holds unread, without a socket read (so never blocking)."""
        attributes = self.source.__dict__
        previous = attributes.get("readinto")
        attributes["readinto"] = _would_block
        try:
            return bytes(self.reader.peek())
        finally:
            if previous is None:
                attributes.pop("readinto", None)
            else:
                attributes["readinto"] = previous

    # -- the operator's thread, once per socket read -------------------------------------
    def readinto(self, buffer: Any) -> Any:
        """The hot path of a watch: hand out what the last socket read brought, or read
        the socket into the stream's ring, up to ``READ_AHEAD`` bytes at once, queue that
        piece, and hand out the start of it."""
        pending = self.pending
        if pending is not None:
            return self._hand_out(buffer, pending)
        space = self._space(len(buffer))
        if space is None:
            return self._read_through(buffer)
        count = self._readinto(space)
        if not count:
            return count
        try:
            ring = self.ring
            piece = ring.keep(count)
            pipeline = self.pipeline
            pipeline.queue.append((self.stream_id, time_ns(), piece))
            pipeline.bytes_queued += count
            ring.reserved = ring.written  # after the append: see PieceRing
            self.loss.last = piece[-1]
            self.last_kept = True
        except Exception as error:  # noqa: BLE001 - the operator must never see our bugs
            self.recorder.count_error(error)
            piece = space[:count]
        return self._hand_out(buffer, piece)

    def _hand_out(self, buffer: Any, data: memoryview) -> int:
        """Copy what fits of ``data`` into the caller's buffer; the rest waits."""
        count = len(buffer)
        if count >= len(data):
            count = len(data)
            self.pending = None
        else:
            self.pending = data[count:]
        _bytes_of(buffer)[:count] = data[:count]
        return count

    def _space(self, wanted: int) -> memoryview | None:
        """Ring space to read the socket into; None when this read must go as it would
        unrecorded (recording paused, a queue or ring full, after a gap, another thread)."""
        try:
            pipeline = self.pipeline
            size = max(wanted, READ_AHEAD)
            if (
                self.gap
                or self.loss.broken
                or not self.recorder.enabled
                or pipeline.closing
                or len(pipeline.queue) >= pipeline.max_items
                or pipeline.bytes_queued - pipeline.bytes_taken + size > pipeline.max_bytes
            ):
                return None
            if get_ident() != self.thread:
                self.other_reader = True
            return self.ring.space(size)
        except Exception as error:  # noqa: BLE001 - the operator must never see our bugs
            self.recorder.count_error(error)
            return None

    def _read_through(self, buffer: Any) -> Any:
        """A socket read into the caller's buffer, recorded by a copy (or not at all)."""
        count = self._readinto(buffer)
        if not count:
            return count
        try:
            if get_ident() != self.thread:
                self.other_reader = True
            self._record(_bytes_of(buffer)[:count])
        except Exception as error:  # noqa: BLE001 - the operator must never see our bugs
            self.recorder.count_error(error)
        return count

    def _record(self, piece: bytes | memoryview) -> None:
        """A piece off the hot path: recording paused, the queue full, or after a gap."""
        if not self.recorder.enabled:
            self.gap, self.last_kept = True, False
            self.loss.skipped()
            return
        # A negative stream id says: bytes are missing before this piece.
        stream = -self.stream_id if self.gap else self.stream_id
        pipeline = self.pipeline
        ring = self.ring
        copy = ring.copy(piece) or bytes(piece)  # a full ring: a bytes of its own
        kept = pipeline.put((stream, time_ns(), copy), len(piece), 0)
        if kept:
            ring.reserved = ring.written  # after the append: see PieceRing
        lost = self.loss.after(piece, kept)  # drops are counted in events, not reads
        if lost:
            pipeline.count_drops(lost)
        self.gap, self.last_kept = not kept, kept

    # -- the end of the stream -----------------------------------------------------------
    def _end(self) -> None:
        if self.closed:
            return
        self.closed = True
        unread = self._unread() if self.unread is None else self.unread
        uninstall(self.source, ("readinto",))
        if not self.other_reader and get_ident() == self.thread:  # so no read is under way
            self.pipeline.give_ring(self.ring)
        uninstall(self.response, ("_close_conn",))
        self.recorder.emit((m.WATCH_CLOSE, (self.stream_id, unread)), 0)
        uninstall(self.raw, _TEE_METHODS)

    def _note_unread(self) -> None:
        if self.unread is None:
            self.unread = self._unread()

    def _unread(self) -> int:
        """Bytes of the last piece the client never took; 0 when that cannot be known.

        Only the thread that reads may look: ``peek`` takes the socket file's lock, which
        a reader blocked in ``recv`` on another thread would hold.
        """
        if not self.last_kept or self.other_reader or get_ident() != self.thread:
            return 0
        if self.reader.closed:
            return 0
        pending = self.pending
        return len(self._buffered()) + (len(pending) if pending is not None else 0)

    def close_file(self) -> Any:
        """http.client closes the socket file (urllib3 does, when a watch stops early):
        the last moment its unread bytes can be counted."""
        self.recorder.guarded(self._note_unread)
        return self._close_file()

    def release_conn(self) -> Any:
        self.recorder.guarded(self._end)
        return self._release()

    def close(self) -> Any:
        self.recorder.guarded(self._end)
        return self._close()
