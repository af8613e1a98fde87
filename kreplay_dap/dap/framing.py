"""DAP wire framing: ``Content-Length`` headers over a byte stream, validated and bounded."""

from __future__ import annotations

import json
import logging
from typing import Any, BinaryIO

from recorder.errors import InvalidInputError, LimitExceededError

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 16 * 1024 * 1024
MAX_HEADER_LINE = 1024
MAX_HEADER_LINES = 16


class FrameError(InvalidInputError):
    """A frame that cannot be parsed; ``recoverable`` when the stream is still in sync."""

    def __init__(self, message: str, recoverable: bool, request_seq: int = 0, command: str = ""):
        super().__init__(message)
        self.recoverable = recoverable
        self.request_seq = request_seq
        self.command = command


def read_frame(stream: BinaryIO) -> dict[str, Any] | None:
    """The next message, or None at end of stream; raises FrameError for bad frames."""
    length = _read_headers(stream)
    if length is None:
        return None
    body = _read_exactly(stream, length)
    if body is None:
        raise FrameError("stream ended inside a message body", recoverable=False)
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise FrameError(f"message body is not JSON: {error}", recoverable=True) from None
    if not isinstance(message, dict):
        raise FrameError("message body is not a JSON object", recoverable=True)
    return message


def _read_headers(stream: BinaryIO) -> int | None:
    """Header lines up to the blank line; a bad header is reported once the block ends,
    so the stream stays in sync (unless the declared length is refused)."""
    length: int | None = None
    problem = ""
    for index in range(MAX_HEADER_LINES + 1):
        line = stream.readline(MAX_HEADER_LINE + 1)
        if not line:
            if index == 0:
                return None
            raise FrameError("stream ended inside a header", recoverable=False)
        text = line.decode("ascii", errors="replace").strip()
        if len(line) > MAX_HEADER_LINE:
            problem = problem or "header line too long"
        elif text:
            try:
                length = _header_length(text, length)
            except FrameError as error:
                if not error.recoverable:
                    raise
                problem = problem or str(error)
        elif index > 0 or length is not None:
            if problem or length is None:
                raise FrameError(problem or "frame without Content-Length", recoverable=True)
            return length
    raise FrameError("too many header lines", recoverable=False)


def _header_length(text: str, current: int | None) -> int | None:
    name, sep, value = text.partition(":")
    if not sep:
        raise FrameError(f"malformed header line {text[:80]!r}", recoverable=True)
    if name.strip().lower() != "content-length":
        return current
    value = value.strip()
    if not value.isdigit():
        raise FrameError(f"bad Content-Length {value[:40]!r}", recoverable=True)
    length = int(value)
    if length > MAX_FRAME_BYTES:
        raise FrameError(
            f"Content-Length {length} exceeds the {MAX_FRAME_BYTES}-byte limit", recoverable=False
        )
    return length


def _read_exactly(stream: BinaryIO, length: int) -> bytes | None:
    chunks: list[bytes] = []
    remaining = length
    for _ in range(length // 4096 + 2):
        if remaining <= 0:
            break
        chunk = stream.read(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def encode_frame(message: dict[str, Any]) -> bytes:
    """One message as a frame; refuses to produce frames over the limit."""
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(body) > MAX_FRAME_BYTES:
        raise LimitExceededError(f"outgoing message of {len(body)} bytes exceeds the frame limit")
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
