"""Requests in, responses and events out: seq numbering, handler registry, error mapping."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from kreplay_dap.dap.framing import encode_frame
from recorder.errors import InvalidInputError, KreplayError

log = logging.getLogger(__name__)

Handler = Callable[[Any, dict[str, Any]], Any]  # a response body, None or a Deferred
CHUNK_BYTES = 1 << 20
_STREAM_MARK = "\x00kreplay-streamed-text\x00"


@dataclass(slots=True)
class StreamedText:
    """A response body string too big to hold as JSON in memory: its content, already
    escaped for a JSON string, is in ``file`` (``size`` bytes); ``Output`` streams it."""

    file: IO[bytes]
    size: int

    def chunks(self) -> Iterator[bytes]:
        self.file.seek(0)
        for _ in range(self.size // CHUNK_BYTES + 2):
            chunk = self.file.read(CHUNK_BYTES)
            if not chunk:
                return
            yield chunk


@dataclass(slots=True)
class Deferred:
    """A handler's answer that takes a while to compute (the listing of a million
    operations): ``work`` runs on its own thread and the response is sent from the main
    loop when it is done, so the adapter keeps answering other requests meanwhile."""

    work: Callable[[], dict[str, Any] | None]


HANDLERS: dict[str, Handler] = {}


def handler(command: str) -> Callable[[Handler], Handler]:
    """Register the function handling ``command``; it returns the response body."""

    def register(function: Handler) -> Handler:
        HANDLERS[command] = function
        return function

    return register


class Output:
    """Serialises outgoing messages with their own sequence numbers (thread safe)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._seq = 0
        self.closed = False

    def send(self, message: dict[str, Any]) -> None:
        with self._lock:
            if self.closed:
                return
            self._seq += 1
            message["seq"] = self._seq
            try:
                self._stream.write(encode_frame(message))
                self._stream.flush()
            except (BrokenPipeError, ValueError, OSError) as error:
                log.warning("client went away while sending %s: %s", message.get("type"), error)
                self.closed = True

    def event(self, name: str, body: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"type": "event", "event": name}
        if body is not None:
            message["body"] = body
        self.send(message)

    def response(self, request: dict[str, Any], body: dict[str, Any] | None) -> None:
        message: dict[str, Any] = _response_head(request, True)
        if body is not None:
            message["body"] = body
        streamed = [key for key, value in (body or {}).items() if isinstance(value, StreamedText)]
        if streamed and body is not None:
            self._send_streamed(message, body, streamed[0])
        else:
            self.send(message)

    def _send_streamed(self, message: dict[str, Any], body: dict[str, Any], key: str) -> None:
        """One frame whose ``body[key]`` string is written from its file, chunk by chunk."""
        text: StreamedText = body[key]
        body[key] = _STREAM_MARK
        with self._lock:
            if self.closed:
                return
            self._seq += 1
            message["seq"] = self._seq
            encoded = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
            head, tail = encoded.split(json.dumps(_STREAM_MARK)[1:-1])
            prefix, suffix = head.encode(), tail.encode()
            length = len(prefix) + text.size + len(suffix)
            try:
                self._stream.write(b"Content-Length: %d\r\n\r\n%s" % (length, prefix))
                for chunk in text.chunks():
                    self._stream.write(chunk)
                self._stream.write(suffix)
                self._stream.flush()
            except (BrokenPipeError, ValueError, OSError) as error:
                log.warning("client went away while streaming a %s response: %s", key, error)
                self.closed = True

    def error(self, request_seq: int, command: str, text: str, error_id: int = 1) -> None:
        message = {
            "type": "response",
            "request_seq": request_seq,
            "success": False,
            "command": command,
            "message": text,
            "body": {"error": {"id": error_id, "format": text.replace("{", "(").replace("}", ")"),
                               "showUser": True}},
        }  # fmt: skip
        self.send(message)


def _response_head(request: dict[str, Any], success: bool) -> dict[str, Any]:
    return {
        "type": "response",
        "request_seq": request["seq"],
        "success": success,
        "command": request["command"],
    }


def validate_request(message: dict[str, Any]) -> tuple[int, str]:
    """The request's seq and command, or InvalidInputError when it is not a request."""
    seq, command = message.get("seq"), message.get("command")
    if message.get("type") != "request":
        raise InvalidInputError(f"expected a request, got type {message.get('type')!r}")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise InvalidInputError("request without a valid 'seq'")
    if not isinstance(command, str) or not command:
        raise InvalidInputError("request without a 'command'")
    arguments = message.get("arguments", {})
    if arguments is not None and not isinstance(arguments, dict):
        raise InvalidInputError(f"{command}: 'arguments' must be an object")
    return seq, command


def describe_error(error: Exception) -> str:
    """One line for the user about a failure: kreplay's own message, else what kind of
    failure it was."""
    if isinstance(error, KreplayError):
        return str(error)
    if isinstance(error, sqlite3.DatabaseError):
        return f"the recording cannot be read (corrupt or truncated?): {error}"
    return f"internal error: {type(error).__name__}: {error}"


def dispatch(session: Any, output: Output, message: dict[str, Any]) -> None:
    """Run one request's handler; every failure becomes an error response."""
    if message.get("type") == "response":  # the client answering a reverse request
        log.info("client answered %s: success=%s", message.get("command"), message.get("success"))
        return
    try:
        seq, command = validate_request(message)
    except InvalidInputError as error:
        raw_seq = message.get("seq")
        if isinstance(raw_seq, int) and not isinstance(raw_seq, bool) and raw_seq >= 1:
            output.error(raw_seq, str(message.get("command") or "unknown"), str(error))
        else:  # nothing to answer to: a logged drop
            log.error("dropped message: %s", error)
            output.event("output", {"category": "stderr", "output": f"kreplay: dropped: {error}\n"})
        return
    function = HANDLERS.get(command)
    if function is None:
        output.error(seq, command, f"unsupported request {command!r}", 2)
        return
    body = _answer(output, message, lambda: function(session, message.get("arguments") or {}))
    if isinstance(body, Deferred):
        _run_deferred(session, output, message, body)
        return
    if body is not _FAILED:
        output.response(message, body)
        session.after_response(command)


_FAILED = object()


def _answer(output: Output, message: dict[str, Any], call: Callable[[], Any]) -> Any:
    """``call()``, or ``_FAILED`` once its failure has been sent as an error response."""
    seq, command = int(message["seq"]), str(message["command"])
    try:
        return call()
    except KreplayError as error:
        output.error(seq, command, str(error), 3)
    except Exception as error:  # a handler bug must not take the adapter down
        log.exception("handler %s failed", command)
        damaged = isinstance(error, sqlite3.DatabaseError)  # a recording, not a handler, fault
        text = describe_error(error) if damaged else f"internal error in {command}: {error}"
        output.error(seq, command, text, 4)
    return _FAILED


def _run_deferred(
    session: Any, output: Output, message: dict[str, Any], deferred: Deferred
) -> None:
    post: Callable[[Callable[[], None]], None] | None = getattr(session, "post", None)
    if post is None:  # no main loop (a direct call): answer now
        _respond_later(session, output, message, _answer(output, message, deferred.work))
        return

    def work() -> None:
        body = _answer(output, message, deferred.work)
        post(lambda: _respond_later(session, output, message, body))

    threading.Thread(target=work, name=f"kreplay-{message['command']}", daemon=True).start()


def _respond_later(session: Any, output: Output, message: dict[str, Any], body: Any) -> None:
    if body is not _FAILED:
        output.response(message, body)
        session.after_response(str(message["command"]))
