"""The operator-side half of the recorder: a bounded queue, a sender thread, a writer process.

The operator's threads only append to a list under a lock (never blocking on I/O). Every
50 ms the sender thread encodes what is pending into one frame and writes it to the
writer process's stdin; that ``os.write`` releases the GIL, so the operator keeps its CPU.
When the queue is full, messages are dropped and counted; the count reaches the session's
``dropped_ops`` with the next frame.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import subprocess
import sys
import threading
import time
from typing import Any

import recorder
from recorder.capture import messages as m
from recorder.errors import LimitExceededError

SEND_INTERVAL_S = 0.05
_DATA_TAGS = frozenset({m.CALL, m.WATCH_CHUNK})
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


def _after(views: list[memoryview], written: int) -> list[memoryview]:
    """What is left of ``views`` once ``written`` bytes went out."""
    left = list(views)
    while left and written >= len(left[0]):
        written -= len(left.pop(0))
    if left and written:
        left[0] = left[0][written:]
    return left


class Pipeline:
    """Bounded hand-off from operator threads to the writer process."""

    def __init__(self, config: dict[str, Any], max_items: int, max_bytes: int) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.failures = 0
        self.dropped = 0
        self.last_error = ""
        self.last_stats: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._items: list[m.Message] = []
        self._pending_bytes = 0
        self._unsent_drops = 0
        self._closing = False
        self._wake = threading.Event()
        self._tokens = itertools.count(1)
        self._reply_lock = threading.Lock()
        self._reply_buffer = b""
        self._proc: subprocess.Popen[bytes] | None = None
        try:
            self._proc = _spawn_writer()
            self._write(*m.encode_frame_parts([(0, json.dumps(config))]))
        except (OSError, ValueError) as error:
            self._fail(error)
        self._thread = threading.Thread(target=self._run, name="kreplay-recorder", daemon=True)
        self._thread.start()

    # -- operator threads ---------------------------------------------------------------
    def put(self, message: m.Message, size: int) -> bool:
        """Queue a message; False (and counted) when the queue is full. Never blocks on I/O."""
        with self._lock:
            if (
                self._closing
                or len(self._items) >= self.max_items
                or self._pending_bytes + size > self.max_bytes
            ):
                self._unsent_drops += 1
                self.dropped += 1
                return False
            self._items.append(message)
            self._pending_bytes += size
            return True

    def _put_control(self, message: m.Message) -> None:
        with self._lock:
            self._items.append(message)

    # -- sender thread ------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait(SEND_INTERVAL_S)
            self._wake.clear()
            with self._lock:
                batch, self._items = self._items, []
                self._pending_bytes = 0
                drops, self._unsent_drops = self._unsent_drops, 0
                closing = self._closing
            if drops:
                batch.append((m.DROPPED, drops))
            if batch:
                self._send(batch)
            if closing:
                return

    def _send(self, batch: list[m.Message]) -> None:
        try:
            frames = [m.encode_frame_parts(batch)]
        except _ENCODE_ERRORS:
            frames = self._frames_of(self._kept(batch))
        for frame in frames:
            if not self._write(*frame):
                self.dropped += sum(1 for message in batch if message[0] in _DATA_TAGS)
                return

    def _frames_of(self, kept: list[m.Message]) -> list[tuple[bytes, bytes]]:
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
        """One ``writev`` per frame: no joined copy, and the GIL is released while it waits."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            return False
        try:
            fd = proc.stdin.fileno()
            views = [memoryview(part) for part in parts if part]
            while views:  # each pass writes at least one byte or raises
                written = os.writev(fd, views)
                views = _after(views, written)
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
        with self._lock:
            if self._closing:
                return self.last_stats or None
            self._items.append((m.END, time.time_ns()))
            self._closing = True
        self._wake.set()
        self._thread.join(timeout)
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
