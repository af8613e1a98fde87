"""The messages the operator process hands to its writer process, and their framing.

A frame is a 4-byte big-endian length and a ``marshal``-encoded list of message tuples.
``marshal`` only knows plain data, so a frame can never run code in the writer.
"""

from __future__ import annotations

import marshal
import struct
from typing import Any, BinaryIO

from recorder.errors import LimitExceededError

CALL = 1  # ts_ns, duration_us, method, url, content_type, request body, status, reason,
#           response bytes, exception type, exception text, thread, call site, span token
WATCH_OPEN = 2  # stream, ts_ns, url, thread, call site, span token
WATCH_CHUNK = 3  # stream, ts_ns, bytes
WATCH_CLOSE = 4  # stream
SPAN_START = 5  # span token, kind, namespace, name, trigger, thread, start_ns
SPAN_END = 6  # span token, end_ns, error
DROPPED = 7  # count
FLUSH = 8  # token
END = 9  # ended_ns

MAX_FRAME_BYTES = 256 << 20
_HEADER = struct.Struct(">I")

Message = tuple[Any, ...]


def encode_frame(messages: list[Message]) -> bytes:
    """Raises ValueError when a message holds something that is not plain data."""
    header, payload = encode_frame_parts(messages)
    return header + payload


def encode_frame_parts(messages: list[Message]) -> tuple[bytes, bytes]:
    """The frame as header and payload, to be written with one ``writev`` and no copy."""
    payload = marshal.dumps(messages)
    if len(payload) > MAX_FRAME_BYTES:
        raise LimitExceededError(f"frame of {len(payload)} bytes exceeds {MAX_FRAME_BYTES}")
    return _HEADER.pack(len(payload)), payload


def read_frame(stream: BinaryIO) -> list[Message] | None:
    """The next frame, or None at end of input."""
    header = _read_exactly(stream, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME_BYTES:
        raise LimitExceededError(f"frame of {size} bytes exceeds {MAX_FRAME_BYTES}")
    payload = _read_exactly(stream, size)
    if payload is None:
        return None
    messages = marshal.loads(payload)
    if not isinstance(messages, list):
        raise LimitExceededError("malformed frame: not a list of messages")
    return [m for m in messages if isinstance(m, tuple) and m and isinstance(m[0], int)]


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
