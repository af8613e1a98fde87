"""A call's response body, recorded where http.client reads it: its socket file.

urllib3 and http.client read a response body from a buffered socket file. Standing in for
that file (``http.client.HTTPResponse.fp``, an attribute the response already has) records
the bytes the client reads without touching urllib3's response object: its methods stay
its own, so the interpreter's caches of them and of the client's other lookups stay warm,
which patching the response's methods spoils for every call. The bytes may carry HTTP
chunk framing; the writer process takes it off. http.client closes the file at the end of
the body, and that is when the call is queued.
"""

from __future__ import annotations

import io
import threading
from typing import TYPE_CHECKING, Any

from recorder.capture import messages as m

if TYPE_CHECKING:
    from recorder.capture.hooks import CallCapture

_new = object.__new__
_get_ident = threading.get_ident
_BufferedReader = io.BufferedReader
_MAX_UNREAD = 4096  # threads with a body not read yet; more: the oldest are queued as they are

# The last response body of each thread, until the body ends: with ``_preload_content=False``
# the caller may never read it (a create whose answer it ignores). The call is then queued,
# without its body, when the thread makes its next call, so the recording keeps the calls in
# order (or at ``Recorder.close``).
unread: dict[int, Any] = {}


def finish_unread_body() -> None:
    """Queue this thread's call whose body was never read to the end, if any."""
    tap = unread.pop(_get_ident(), None)
    if tap is not None:
        tap.finish()


def finish_all_unread_bodies() -> None:
    for ident in list(unread)[:_MAX_UNREAD]:
        tap = unread.pop(ident, None)
        if tap is not None:
            tap.finish()


def note_unread(tap: Any) -> None:
    if len(unread) >= _MAX_UNREAD:
        finish_all_unread_bodies()
    unread[_get_ident()] = tap


def forget_unread(tap: Any) -> None:
    """The tap's body ended on this thread: nothing is left for its next call to queue."""
    if unread.get(_get_ident()) is tap:
        del unread[_get_ident()]


def recorded_body(chunks: list[bytes], size: int, limit: int) -> bytes:
    """A body as the recording keeps it: the bytes read, or past ``limit`` (when only the
    first bytes were kept) a marker giving its size."""
    if size > limit:
        return b'{"kreplay":"oversize","bytes":%d}' % size
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def tee_body(call: CallCapture, raw: Any) -> bool:
    """Stand in for the response's socket file; False where we cannot (then the caller
    taps urllib3's response instead): no socket file, or an encoded (gzip) body."""
    try:
        http = raw._fp
        file = http.fp
        encoded = "content-encoding" in raw.headers
    except (AttributeError, TypeError):  # not urllib3 over http.client as we know them
        return False
    if type(file) is not _BufferedReader or encoded:
        return False
    tee = _new(BodyTee)
    tee.call, tee.file, tee.chunks, tee.size = call, file, [], 0
    tee.limit = call.recorder.max_object_bytes
    tee.chunked = http.chunked is True
    http.fp = tee
    note_unread(tee)
    return True


class BodyTee:
    """Forwards http.client's reads to the socket file and keeps what they return.

    It has what http.client and urllib3 ask of the file (the reads, ``peek``, ``close``,
    ``closed``, ``fileno``, ``flush``) and hands anything else to the file.
    """

    __slots__ = ("call", "chunked", "chunks", "file", "limit", "size")
    call: CallCapture
    chunked: bool
    chunks: list[bytes]
    file: io.BufferedReader
    limit: int
    size: int

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size <= self.limit:
            self.chunks.append(data)

    def read(self, amt: int | None = None) -> bytes:
        data = self.file.read(amt)
        if data:
            self._keep(data)
        return data

    def read1(self, amt: int = -1) -> bytes:
        data = self.file.read1(amt)
        if data:
            self._keep(data)
        return data

    def readline(self, limit: int = -1) -> bytes:
        data = self.file.readline(limit)
        if data:
            self._keep(data)
        return data

    def readinto(self, buffer: Any) -> int:
        count = self.file.readinto(buffer)
        if count:
            self._keep(bytes(memoryview(buffer)[:count]))
        return count

    def peek(self, size: int = 0) -> bytes:
        return self.file.peek(size)  # not consumed: kept when it is read

    def close(self) -> None:
        try:
            self.file.close()
        finally:
            self.call.recorder.guarded(self.finish)

    @property
    def closed(self) -> bool:
        return self.file.closed

    def fileno(self) -> int:
        return self.file.fileno()

    def flush(self) -> None:
        self.file.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)  # anything else a caller asks of the file

    def finish(self) -> None:
        call = self.call
        if call.done:
            return
        call.done = True
        whole = recorded_body(self.chunks, self.size, self.limit)
        body: Any = whole or None  # an unread or empty body is no body
        if body is not None and self.chunked and self.size <= self.limit:
            body = (m.FRAMING_CHUNKED, body)  # the writer takes the framing off
        call.recorder.pipeline.put(call.message(call.status, call.reason, body), len(whole))
        forget_unread(self)
