"""The seam in the official client: ``ApiClient.call_api`` and the urllib3 response it returns.

Every generated API (any group), ``CustomObjectsApi``, the dynamic client and
``watch.Watch`` go through ``call_api``. Its response is read later by the caller, so
the response body is captured by wrapping that one urllib3 response's ``read``,
``release_conn`` and ``close``: the caller keeps the same object and gets the same
bytes. A watch stream is teed at its socket file instead (``socket_tee``), or failing
that at urllib3's ``read_chunked``. On the operator's thread we only take timestamps,
the call site and references to bytes the client already has; nothing is parsed.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from recorder.capture import messages as m
from recorder.capture.body_tee import (
    finish_unread_body,
    forget_unread,
    note_unread,
    recorded_body,
    tee_body,
    unread,
)
from recorder.capture.callsite import call_site
from recorder.capture.routes import is_watch_url
from recorder.capture.socket_tee import SocketTee, socket_file, uninstall

# The reconcile span a call belongs to (0: none), set by ``Recorder.reconcile``.
current_span: contextvars.ContextVar[int] = contextvars.ContextVar("kreplay_span", default=0)
# call_site, begin_call, RecordedCallApi.__call__: the client's frame is next.
_SITE_DEPTH = 3

if TYPE_CHECKING:
    from recorder.capture.recorder import Recorder


_current_thread = threading.current_thread
_running_loop = asyncio._get_running_loop
_time_ns, _perf_ns = time.time_ns, time.perf_counter_ns
_new = object.__new__


def thread_label() -> str:
    """The thread's name, and the asyncio task's when one is running."""
    thread = _current_thread()
    name: str
    try:
        name = thread._name  # type: ignore[attr-defined]  # ``name``, without a property call
    except AttributeError:
        name = thread.name
    loop = _running_loop()
    if loop is not None:
        task = asyncio.current_task(loop)
        if task is not None:
            return f"{name}/{task.get_name()}"
    return name


def describe_error(error: BaseException) -> str:
    """One short line: ApiException's text also lists response headers, which we never keep."""
    status = getattr(error, "status", None)
    if isinstance(status, int):
        return f"{type(error).__name__}: ({status}) {getattr(error, 'reason', '')}"[:1024]
    first = str(error).strip().splitlines()
    return f"{type(error).__name__}: {first[0] if first else ''}"[:1024]


class RecordedCallApi:
    """Replaces ``api_client.call_api`` on one client instance."""

    def __init__(self, recorder: Recorder, original: Callable[..., Any]) -> None:
        self.recorder = recorder
        self.original = original

    def __call__(
        self,
        method: str,
        url: str,
        header_params: dict[str, Any] | None = None,
        body: Any = None,
        post_params: Any = None,
        _request_timeout: Any = None,
    ) -> Any:
        recorder = self.recorder
        call = None
        if recorder.enabled:
            try:
                if unread:
                    finish_unread_body()
                call = begin_call(recorder, method, url, header_params, body)
            except Exception as error:  # noqa: BLE001 - the operator must never see our bugs
                recorder.count_error(error)
        timeout = _request_timeout
        try:
            response = self.original(method, url, header_params, body, post_params, timeout)
        except BaseException as error:
            if call is not None:
                recorder.guarded(call.failed, error)
            raise
        if call is not None:
            try:
                call.responded(response)
            except Exception as error:  # noqa: BLE001 - the operator must never see our bugs
                recorder.count_error(error)
        return response


def begin_call(recorder: Recorder, method: str, url: str, headers: Any, body: Any) -> CallCapture:
    """What we know of a call before its response. Made without calling the class: a class
    call looks up ``__init__``, and each lookup the client does not make costs it a miss
    of the interpreter's shared cache of them."""
    call: CallCapture = _new(CallCapture)
    call.recorder = recorder
    call.start_ns = _time_ns()
    call.start_perf = _perf_ns()
    call.method = method
    call.url = url
    call.headers = headers  # only Content-Type is ever read, after the client settled it
    call.request = body
    call.site = call_site(_SITE_DEPTH)
    call.thread = thread_label()
    call.span = current_span.get()
    call.done = False
    return call


class CallCapture:
    """One call in flight: what we know before the response, then a tap on its body.

    Its body is teed at http.client's socket file (``body_tee``), or where that cannot be,
    by this object standing in for the urllib3 response's ``read``, ``release_conn`` and
    ``close``. Either emits the call once, at the end of the body or at close.
    """

    __slots__ = ("_close", "_read", "_release", "chunks", "done", "headers", "method", "raw",
                 "reading", "reason", "recorder", "request", "site", "size", "span", "start_ns",
                 "start_perf", "status", "thread", "url")  # fmt: skip
    recorder: Recorder
    start_ns: int
    start_perf: int
    method: str
    url: str
    headers: Any
    request: Any
    site: tuple[tuple[str, int, str], ...]
    thread: str
    span: int
    done: bool
    # Set when a body tap is installed (``responded``):
    raw: Any
    status: int
    reason: str
    chunks: list[bytes]
    size: int
    reading: bool
    _read: Callable[..., Any]
    _release: Callable[[], Any]
    _close: Callable[[], Any]

    def message(self, status: int, reason: str, data: Any, exc: Any = None) -> m.Message:
        """``data``: the body, None, or (framing, bytes) from the socket file."""
        duration_us = (_perf_ns() - self.start_perf) // 1000
        headers = self.headers
        content_type = headers.get("Content-Type", "") if type(headers) is dict else ""
        return (m.CALL, self.start_ns, duration_us, self.method, self.url, content_type,
                self.request, status, reason, data, type(exc).__name__ if exc else "",
                describe_error(exc) if exc else "", self.thread, self.site, self.span)  # fmt: skip

    def watch_opened(self, stream_id: int, framing: int) -> m.Message:
        return (m.WATCH_OPEN, stream_id, self.start_ns, self.url, self.thread, self.site,
                self.span, framing)  # fmt: skip

    def failed(self, error: BaseException) -> None:
        self.recorder.emit(self.message(0, "", None, error), 0)

    def responded(self, response: Any) -> None:
        try:  # plain attribute reads: the interpreter specialises them, getattr() it cannot
            raw, status, reason = response.response, response.status, response.reason
        except AttributeError:
            raw, status, reason = None, getattr(response, "status", 0), ""
        if raw is None or type(status) is not int:
            self.recorder.emit(self.message(status if type(status) is int else 0, "", None), 0)
            return
        if 200 <= status <= 299 and self.method == "GET" and is_watch_url(self.url):
            capture_watch(self, raw)
            return
        self.status = status
        self.reason = reason if type(reason) is str else str(reason or "")
        if not tee_body(self, raw):
            self._tap(raw)

    def _tap(self, raw: Any) -> None:
        """Stand in for the urllib3 response's methods (a body ``tee_body`` cannot take)."""
        if not hasattr(raw, "read"):
            self.recorder.emit(self.message(self.status, self.reason, None), 0)
            return
        self.raw = raw
        self.chunks = []
        self.size = 0
        self.reading = False  # urllib3 releases the connection from inside read()
        self._read = raw.read
        self._release = raw.release_conn
        self._close = raw.close
        raw.read = self.read
        raw.release_conn = self.release_conn
        raw.close = self.close
        note_unread(self)

    # -- the body tap: these replace the urllib3 response's own methods ------------------
    def read(
        self, amt: int | None = None, decode_content: Any = None, cache_content: bool = False
    ) -> Any:
        # urllib3's own parameters (1.26 and 2.x): no argument packing on the way through.
        self.reading = True
        try:
            data = self._read(amt, decode_content, cache_content)
        finally:
            self.reading = False
        try:
            if type(data) is bytes and data and not self.done:
                self.size += len(data)
                if self.size <= self.recorder.max_object_bytes:
                    self.chunks.append(data)
            if amt is None or not data:
                self.finish()
        except Exception as error:  # noqa: BLE001 - the operator must never see our bugs
            self.recorder.count_error(error)
        return data

    def finish(self) -> None:
        if self.done:
            return
        self.done = True
        whole = recorded_body(self.chunks, self.size, self.recorder.max_object_bytes)
        body = whole or None  # an unread or empty body is no body, not an empty document
        self.recorder.pipeline.put(self.message(self.status, self.reason, body), len(whole))
        uninstall(self.raw, _BODY_METHODS)
        forget_unread(self)

    def release_conn(self) -> Any:
        if not self.reading and not self.done:
            self.recorder.guarded(self.finish)
        return self._release()

    def close(self) -> Any:
        if not self.reading and not self.done:
            self.recorder.guarded(self.finish)
        return self._close()


_BODY_METHODS = ("read", "release_conn", "close")
_WATCH_METHODS = ("read", "read_chunked", "release_conn", "close")


def capture_watch(call: CallCapture, raw: Any) -> None:
    """Tee the stream at its socket file if we can, else tap urllib3's chunks."""
    target = socket_file(raw)
    if target is not None:
        try:
            SocketTee(call, raw, target).install()
            return
        except Exception as error:  # noqa: BLE001 - install changes nothing until peek worked
            call.recorder.count_error(error)
    WatchTap(call, raw).install()


class WatchTap:
    """Forwards each chunk urllib3 yields, untouched, to the writer process.

    The fallback for streams ``SocketTee`` cannot take (an encoded body, no socket file).
    """

    def __init__(self, call: CallCapture, raw: Any) -> None:
        self.call = call
        self.raw = raw
        self.stream_id = call.recorder.new_stream_id()
        self.closed = False
        self.reading = False
        self._read = raw.read
        self._read_chunked = raw.read_chunked
        self._release = raw.release_conn
        self._close = raw.close

    def install(self) -> None:
        self.call.recorder.emit(self.call.watch_opened(self.stream_id, m.FRAMING_DECODED), 0)
        self.raw.read = self.read
        self.raw.read_chunked = self.read_chunked
        self.raw.release_conn = self.release_conn
        self.raw.close = self.close

    def _forward(self, data: Any) -> None:
        recorder = self.call.recorder
        if data and recorder.enabled and isinstance(data, bytes):
            recorder.emit((self.stream_id, time.time_ns(), data), len(data))

    def read(self, *args: Any, **kwargs: Any) -> Any:
        self.reading = True
        try:
            data = self._read(*args, **kwargs)
        finally:
            self.reading = False
        self.call.recorder.guarded(self._forward, data)
        return data

    def read_chunked(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        # The hot loop of a watch: one clock and one deque append per chunk, with
        # ``Pipeline.put``'s bounds checked inline (a call per event costs as much again).
        recorder = self.call.recorder
        pipeline = recorder.pipeline
        queue, append, max_items, max_bytes = (
            pipeline.queue,
            pipeline.queue.append,
            pipeline.max_items,
            pipeline.max_bytes,
        )
        clock, stream_id = time.time_ns, self.stream_id
        for chunk in self._read_chunked(*args, **kwargs):
            if recorder.enabled and type(chunk) is bytes and chunk:
                size = len(chunk)
                if (
                    len(queue) < max_items
                    and pipeline.bytes_queued - pipeline.bytes_taken + size <= max_bytes
                    and not pipeline.closing
                ):
                    append((stream_id, clock(), chunk))  # m.CHUNK_FIELDS
                    pipeline.bytes_queued += size
                else:
                    recorder.guarded(pipeline.count_drops, 1)
            yield chunk
        recorder.guarded(self._end)

    def _end(self) -> None:
        if not self.closed:
            self.closed = True
            self.call.recorder.emit((m.WATCH_CLOSE, (self.stream_id, 0)), 0)
            uninstall(self.raw, _WATCH_METHODS)

    def release_conn(self) -> Any:
        if not self.reading:
            self.call.recorder.guarded(self._end)
        return self._release()

    def close(self) -> Any:
        if not self.reading:
            self.call.recorder.guarded(self._end)
        return self._close()
