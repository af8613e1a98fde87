"""DAP wire framing: ``Content-Length`` headers over a byte stream, validated and bounded.

A bad frame is reported and the stream is kept in sync, so one bad frame costs only
itself:

* a header block without a usable ``Content-Length`` is reported, and the body that follows
  it (of unknown length) is skipped up to the next ``Content-Length`` header, even one glued
  to the end of that body; the skipped bytes are reported too, then that frame is read;
* a body over ``MAX_FRAME_BYTES`` (or one whose other headers are bad) is reported at once,
  then read and dropped in ``DISCARD_CHUNK`` pieces: the next frame starts where the
  declared length says.

Only the end of the stream inside a frame is fatal.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, BinaryIO

from recorder.errors import InvalidInputError, LimitExceededError

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 16 * 1024 * 1024
MAX_DISCARD_BYTES = 1 << 40  # a declared length beyond this is not believed at all
MAX_HEADER_LINE = 1024
MAX_HEADER_LINES = 16
MAX_SKIPPED_BYTES = MAX_FRAME_BYTES  # reported (and skipping goes on) every this many bytes
DISCARD_CHUNK = 64 * 1024
_MARKER = b"content-length:"
_NAME = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # an HTTP header name (RFC 9110 token)
_HEADER_START = re.compile(f"^{_NAME}:".encode())
_HEADER_NAME = re.compile(f"^{_NAME}$")


class FrameError(InvalidInputError):
    """A frame that cannot be parsed; ``recoverable`` when the stream is still in sync."""

    def __init__(self, message: str, recoverable: bool, request_seq: int = 0, command: str = ""):
        super().__init__(message)
        self.recoverable = recoverable
        self.request_seq = request_seq
        self.command = command


@dataclass(slots=True)
class _Block:
    """One header block, up to its blank line."""

    length: int | None = None
    problem: str = ""  # a bad header after Content-Length: the frame is dropped
    lines: int = 0  # header lines since the block (re)started
    garbage: bool = False  # bytes before any Content-Length that are no header
    skipped: int = 0  # bytes dropped before the Content-Length that (re)started the block
    read: int = 0  # bytes read in this block


class FrameReader:
    """Reads the frames of one stream (see the module docstring)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self._discard = 0  # bytes of a refused body still to drop
        self._queued: list[dict[str, Any] | FrameError] = []
        self._carry = b""  # the end of a long garbage line: a header may straddle two reads

    def read(self) -> dict[str, Any] | None:
        """The next message, or None at the end of the stream; FrameError for a bad frame
        (``recoverable`` when reading may go on)."""
        if self._queued:
            return _deliver(self._queued.pop())
        self._drop_discarded()
        block = self._read_block()
        if block is None:
            return None
        result = self._frame(block)
        if block.skipped and block.length is not None:
            self._queued.append(result)
            raise FrameError(
                f"skipped {block.skipped} bytes outside any frame (the body of a frame without"
                " Content-Length?)",
                recoverable=True,
            )
        return _deliver(result)

    def _frame(self, block: _Block) -> dict[str, Any] | FrameError:
        length = block.length
        if length is None:
            problem = block.problem or "frame without Content-Length"
            return FrameError(f"{problem}: skipping to the next Content-Length", recoverable=True)
        if length > MAX_FRAME_BYTES:
            self._discard = length
            return FrameError(
                f"Content-Length {length} exceeds the {MAX_FRAME_BYTES}-byte limit: its body is"
                " read and dropped",
                recoverable=True,
            )
        if block.problem:
            self._discard = length
            return FrameError(f"{block.problem}: the frame is dropped", recoverable=True)
        body = _read_exactly(self.stream, length)
        if body is None:
            return FrameError("stream ended inside a message body", recoverable=False)
        return _decode(body)

    def _drop_discarded(self) -> None:
        remaining, self._discard = self._discard, 0
        for _ in range(remaining // DISCARD_CHUNK + 2):
            if remaining <= 0:
                return
            chunk = self.stream.read(min(remaining, DISCARD_CHUNK))
            if not chunk:
                raise FrameError("stream ended inside a dropped message body", recoverable=False)
            remaining -= len(chunk)

    def _read_block(self) -> _Block | None:
        """Header lines up to the blank line ending a block that (re)started at a
        Content-Length, or None at the end of the stream before any byte."""
        block = _Block()
        for _ in range(MAX_SKIPPED_BYTES + MAX_HEADER_LINES * (MAX_HEADER_LINE + 1) + 2):
            piece = self.stream.readline(MAX_HEADER_LINE + 1)
            if not piece:
                if block.read == 0:
                    return None
                raise FrameError("stream ended inside a header", recoverable=False)
            block.read += len(piece)
            if self._take(block, piece):
                return block
            if block.skipped > MAX_SKIPPED_BYTES:
                self._carry = b""
                raise FrameError(
                    f"skipped {block.skipped} bytes without finding a Content-Length header",
                    recoverable=True,
                )
        raise FrameError("header block too long", recoverable=False)

    def _take(self, block: _Block, piece: bytes) -> bool:
        """Add one line (or a part of a long one) to ``block``; True at its end."""
        carry, self._carry = self._carry, b""
        text = self._restart_at_marker(block, carry, piece)
        if text is None:
            self._note_garbage(block, piece)
            return False
        if not text.strip():
            return block.lines > 0 or block.garbage  # blank lines between frames are fine
        block.lines += 1
        if block.lines > MAX_HEADER_LINES:
            block.problem = block.problem or "too many header lines"
        elif len(text) > MAX_HEADER_LINE or not text.endswith(b"\n"):
            block.problem = block.problem or "header line too long"
        else:
            _header(block, text.decode("ascii", errors="replace").strip())
        return False

    def _restart_at_marker(self, block: _Block, carry: bytes, piece: bytes) -> bytes | None:
        """The line to parse as a header, or None when it is garbage. A Content-Length after
        garbage (or glued to its end) restarts the block there; the garbage is skipped."""
        joined = carry + piece
        at = joined.lower().find(_MARKER)
        if at < 0 or (at > 0 and block.length is not None):
            if block.length is None and piece.strip() and not _HEADER_START.match(piece):
                return None
            return piece
        if at == 0 and not (block.garbage and block.length is None):
            return joined
        # Bytes of this piece before the marker; negative when the marker began in the
        # carry, whose bytes were counted as skipped with the piece before.
        block.skipped += at - len(carry)
        block.length, block.problem, block.lines, block.garbage = None, "", 0, False
        return joined[at:]

    def _note_garbage(self, block: _Block, piece: bytes) -> None:
        block.garbage = True
        block.skipped += len(piece)
        if not piece.endswith(b"\n"):  # a long line: its end may begin a header
            self._carry = piece[-(len(_MARKER) - 1) :]


def _header(block: _Block, text: str) -> None:
    name, sep, value = text.partition(":")
    if not sep or not _HEADER_NAME.match(name.strip()):
        block.problem = block.problem or f"malformed header line {text[:80]!r}"
        return
    if name.strip().lower() != "content-length":
        return
    value = value.strip()
    if not value.isdigit() or len(value) > 15 or int(value) > MAX_DISCARD_BYTES:
        block.length = None
        block.problem = f"bad Content-Length {value[:40]!r}"
        block.garbage = True  # its body, of unknown length, is skipped
        return
    block.length = int(value)


def _deliver(item: dict[str, Any] | FrameError) -> dict[str, Any]:
    if isinstance(item, FrameError):
        raise item
    return item


def _decode(body: bytes) -> dict[str, Any] | FrameError:
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        return FrameError(f"message body is not JSON: {error}", recoverable=True)
    except RecursionError:
        return FrameError("message body is JSON nested too deeply", recoverable=True)
    if not isinstance(message, dict):
        return FrameError("message body is not a JSON object", recoverable=True)
    return message


def read_frame(stream: BinaryIO) -> dict[str, Any] | None:
    """One message from a stream read once (no state kept between frames: a stream
    read frame after frame uses one ``FrameReader``)."""
    return FrameReader(stream).read()


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
