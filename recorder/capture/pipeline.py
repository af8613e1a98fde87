"""The operator-side half of the recorder: a bounded queue, a sender thread, a writer process.

The operator's threads only append to a deque (atomic under the GIL: no lock, never
blocking on I/O). Every 100 ms the sender thread takes what is pending, encodes it into
one frame and writes it to the writer process's stdin; that ``writev`` releases the GIL,
so the operator keeps its CPU. When the queue is full, messages are dropped and counted;
the count reaches the session's ``dropped_ops`` with the next frame.
"""

from __future__ import annotations

import collections
import fcntl
import itertools
import json
import os
import select
import subprocess
import sys
import threading
import time
import weakref
from typing import Any

import recorder
from recorder.capture import messages as m
from recorder.capture.piece_ring import KEPT_BYTES, RING_BYTES, PieceRing
from recorder.errors import LimitExceededError
from recorder.frames import advance

SEND_INTERVAL_S = 0.1  # also the most a SIGKILL of the operator can lose
# After this long without new messages, the writer decodes the last socket read of each
# open watch stream, which it holds back until it knows how much the client used.
SETTLE_AFTER_S = 0.5
# Rings kept mapped for the next watch streams: an informer's stream ends every few
# minutes, and a new ring would fault its pages in again. One unused for ``TRIM_AFTER_S``
# keeps only ``KEPT_BYTES`` mapped: a burst must not stay resident in a ring nobody
# reads into, and a stream that restarts at once must not fault its pages in again.
_SPARE_RINGS = 4
TRIM_AFTER_S = 5.0
_PIPE_BYTES = 1 << 20  # fewer wake-ups of the sender while the writer drains the pipe
_REPLY_LINE_LIMIT = 1 << 20
# Not plain data (marshal), or a frame over the size limit.
_ENCODE_ERRORS = (ValueError, OverflowError, LimitExceededError)


def _spawn_writer() -> subprocess.Popen[bytes]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(recorder.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, "-m", "recorder.capture.sink"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        bufsize=0,
        env=env,
        start_new_session=True,  # the terminal's Ctrl-C must not kill it before it commits
    )


def _widen_pipe(proc: subprocess.Popen[bytes]) -> int:
    """A larger pipe buffer, so the sender blocks (and wakes) less often; its size, or 0.

    Best effort: without ``F_SETPIPE_SZ``, or over /proc/sys/fs/pipe-max-size, the
    default buffer still works, only with more wake-ups.
    """
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if proc.stdin is None or set_size is None:
        return 0
    try:
        return int(fcntl.fcntl(proc.stdin.fileno(), set_size, _PIPE_BYTES))
    except OSError:
        return 0


_IOV_MAX = 1024  # the smallest IOV_MAX of the platforms we run on (Linux: 1024)


def _data_count(messages: list[m.Message]) -> int:
    """How many of the messages are operations (calls and watch chunks)."""
    return sum(1 for message in messages if len(message) == m.CHUNK_FIELDS or message[0] == m.CALL)


class Pipeline:
    """Bounded hand-off from operator threads to the writer process."""

    def __init__(self, config: dict[str, Any], max_items: int, max_bytes: int) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.failures = 0
        self.dropped = 0
        self.last_error = ""
        self.last_stats: dict[str, Any] = {}
        self.pipe_bytes = 0
        # Operator threads append, the sender thread pops: no lock on the hot path.
        self.queue: collections.deque[m.Message] = collections.deque()
        # Bytes queued ever, and the part of it the sender has taken; the difference is
        # what waits. Only the sender writes ``bytes_taken``.
        self.bytes_queued = 0
        self.bytes_taken = 0
        self._drop_lock = threading.Lock()
        self._unsent_drops = 0
        self._rings: list[weakref.ref[PieceRing]] = []  # of watch streams (SocketTee)
        self._spare_rings: list[tuple[PieceRing, float]] = []  # and since when
        self.closing = False
        self._wake = threading.Event()
        self._tokens = itertools.count(1)
        self._reply_lock = threading.Lock()
        self._reply_buffer = b""
        self._proc: subprocess.Popen[bytes] | None = None
        try:
            self._proc = _spawn_writer()
            self.pipe_bytes = _widen_pipe(self._proc)
            self._write(*m.encode_frame_parts([(0, json.dumps(config))]))
        except (OSError, ValueError) as error:
            self._fail(error)
        self._thread = threading.Thread(target=self._run, name="kreplay-recorder", daemon=True)
        self._thread.start()

    # -- operator threads ---------------------------------------------------------------
    def put(self, message: m.Message, size: int, drops: int = 1) -> bool:
        """Queue a message; False (and ``drops`` counted) when the queue is full. Never blocks.

        Threads racing at the limit can each pass the check: the queue overshoots by at
        most one message per operator thread. (``WatchTap.read_chunked`` and
        ``SocketTee._space`` inline this.)
        """
        if (
            self.closing
            or len(self.queue) >= self.max_items
            or self.bytes_queued - self.bytes_taken + size > self.max_bytes
        ):
            if drops:
                self.count_drops(drops)
            return False
        self.queue.append(message)
        self.bytes_queued += size
        return True

    def take_ring(self) -> PieceRing:
        """A ring for a new watch stream: a finished stream's, whose pages are mapped
        already, or a new one. The sender gives its space back as its pieces are sent."""
        with self._drop_lock:
            if self._spare_rings:
                return self._spare_rings.pop()[0]
        ring = PieceRing(min(RING_BYTES, self.max_bytes))
        with self._drop_lock:
            self._rings.append(weakref.ref(ring))
        return ring

    def give_ring(self, ring: PieceRing) -> None:
        """A finished stream's ring, no longer written to: the next stream's."""
        with self._drop_lock:
            if len(self._spare_rings) < _SPARE_RINGS:
                self._spare_rings.append((ring, time.monotonic()))

    def count_drops(self, count: int) -> None:
        with self._drop_lock:  # the rare path; counts must not lose increments
            self._unsent_drops += count
            self.dropped += count

    def _put_control(self, message: m.Message) -> None:
        self.queue.append(message)

    # -- sender thread ------------------------------------------------------------------
    def _run(self) -> None:
        settle_at = 0.0  # when to send SETTLE; 0: nothing sent since the last one
        while True:
            self._wake.wait(SEND_INTERVAL_S)
            self._wake.clear()
            closing = self.closing
            marks = self._ring_marks()  # before the pieces they cover are taken
            batch = self._take()
            with self._drop_lock:
                drops, self._unsent_drops = self._unsent_drops, 0
            if drops:
                batch.append((m.DROPPED, drops))
            if batch:
                self._send(batch)
                settle_at = time.monotonic() + SETTLE_AFTER_S
            elif settle_at and time.monotonic() >= settle_at:
                self._send([(m.SETTLE,)])
                settle_at = 0.0
            for ring, mark in marks:  # its pieces taken are in the pipe now, or dropped
                ring.released = mark
            self._trim_spares()
            if closing:
                return

    def _trim_spares(self) -> None:
        """A finished stream's ring, unused for ``TRIM_AFTER_S`` and its pieces sent,
        keeps its first pages only."""
        idle_since = time.monotonic() - TRIM_AFTER_S
        with self._drop_lock:  # take_ring hands spares out under it: no writer meanwhile
            for ring, since in self._spare_rings:
                if ring.written == ring.released != ring.trimmed_at and since <= idle_since:
                    ring.trim(KEPT_BYTES)

    def _ring_marks(self) -> list[tuple[PieceRing, int]]:
        """Each live ring and how much of it is queued: read before ``_take``, so every
        piece counted is among those taken (a ring publishes ``reserved`` after queueing)."""
        marks, live = [], []
        with self._drop_lock:
            for ref in self._rings:  # one per watch stream whose tee is still alive
                ring = ref()
                if ring is not None:
                    live.append(ref)
                    marks.append((ring, ring.reserved))
            self._rings = live
        return marks

    def _take(self) -> list[m.Message]:
        """Everything queued so far, and the byte count that leaves the queue with it.

        A message is appended before its bytes are counted, so every byte counted by
        the time of ``queued`` belongs to a message already in the deque, and FIFO
        order puts it among the first ``len`` messages taken.
        """
        queued = self.bytes_queued
        pop = self.queue.popleft
        batch = [pop() for _ in range(len(self.queue))]
        self.bytes_taken = queued
        return batch

    def _send(self, batch: list[m.Message]) -> None:
        try:
            frames = [m.encode_frame_parts(batch)]
        except _ENCODE_ERRORS:
            frames = self._frames_of(self._kept(batch))
        for frame in frames:
            if not self._write(*frame):
                self.dropped += _data_count(batch)
                return

    def _frames_of(self, kept: list[m.Message]) -> list[list[bytes]]:
        """One frame, or one per message when together they exceed the frame limit."""
        try:
            return [m.encode_frame_parts(kept)]
        except _ENCODE_ERRORS:
            return [m.encode_frame_parts([message]) for message in kept]

    def _kept(self, batch: list[m.Message]) -> list[m.Message]:
        """A message held something that is not plain data: drop that one, keep the rest."""
        kept: list[m.Message] = []
        for message in batch:
            try:
                m.encode_frame([message])
            except _ENCODE_ERRORS as error:
                self._fail(error)
                self.dropped += 1
                kept.append((m.DROPPED, 1))
                continue
            kept.append(message)
        return kept

    def _write(self, *parts: bytes) -> bool:
        """``writev`` of the parts, at most ``_IOV_MAX`` at a time: no joined copy, and the
        GIL is released while the kernel copies them into the pipe."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            return False
        try:
            fd = proc.stdin.fileno()
            pending: list[Any] = [part for part in parts if part]
            start = 0
            while start < len(pending):  # each pass writes at least one byte or raises
                written = os.writev(fd, pending[start : start + _IOV_MAX])
                start = advance(pending, start, written)
        except (OSError, ValueError) as error:
            self._fail(error)
            self._proc = None
            return False
        return True

    def _fail(self, error: BaseException) -> None:
        self.failures += 1
        self.last_error = f"{type(error).__name__}: {error}"[:500]

    # -- replies ------------------------------------------------------------------------
    def flush(self, timeout: float) -> dict[str, Any] | None:
        """Wait until the writer committed everything queued so far; its stats, or None."""
        token = next(self._tokens)
        self._put_control((m.FLUSH, token))
        self._wake.set()
        return self._await_reply(lambda reply: reply.get("flush") == token, timeout)

    def close(self, timeout: float) -> dict[str, Any] | None:
        """Send what is left, end the session, and wait for the writer to exit."""
        with self._drop_lock:
            if self.closing:
                return self.last_stats or None
            self.queue.append((m.END, time.time_ns()))  # before the flag the sender reads
            self.closing = True
        self._wake.set()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            # A put that passed its check just as we closed: it missed the last frame.
            self.dropped += _data_count(list(self.queue))
        reply = self._await_reply(lambda reply: bool(reply.get("end")), timeout)
        proc = self._proc
        if proc is not None and proc.stdin is not None:
            try:
                proc.stdin.close()
                proc.wait(timeout)
            except (OSError, subprocess.TimeoutExpired) as error:
                self._fail(error)  # it finishes on its own; we stop waiting
        return reply

    def _await_reply(self, wanted: Any, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        with self._reply_lock:
            while time.monotonic() < deadline:
                line = self._next_line(deadline)
                if line is None:
                    return None
                reply = self._parse_reply(line)
                if reply is not None and wanted(reply):
                    return reply
        return None

    def _parse_reply(self, line: bytes) -> dict[str, Any] | None:
        try:
            reply = json.loads(line)
        except ValueError as error:
            self._fail(error)
            return None
        if not isinstance(reply, dict):
            return None
        stats = reply.get("stats")
        if isinstance(stats, dict):
            self.last_stats = stats
        return reply

    def _next_line(self, deadline: float) -> bytes | None:
        proc = self._proc
        if proc is None or proc.stdout is None:
            return None
        fd = proc.stdout.fileno()
        while b"\n" not in self._reply_buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or len(self._reply_buffer) > _REPLY_LINE_LIMIT:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._reply_buffer += chunk
        line, _, self._reply_buffer = self._reply_buffer.partition(b"\n")
        return line
