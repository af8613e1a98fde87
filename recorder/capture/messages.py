"""The messages the operator process hands to its writer process, and their framing.

A frame is an 8-byte header (two big-endian lengths), a ``marshal``-encoded list of
message tuples, then the bytes of the frame's watch chunks, back to back. In the list a
chunk's bytes are replaced by their length: the operator side writes the chunks as they
are (one ``writev``, no copy while holding the GIL) and the writer slices them back in.
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
_HEADER = struct.Struct(">II")  # marshalled messages, then watch chunk bytes

Message = tuple[Any, ...]


def encode_frame(messages: list[Message]) -> bytes:
    """Raises ValueError when a message holds something that is not plain data."""
    return b"".join(encode_frame_parts(messages))


def encode_frame_parts(messages: list[Message]) -> list[bytes]:
    """The frame as parts, to be written with ``writev``: header, messages, chunk bytes."""
    # Two comprehensions rather than one loop: this runs once per event, holding the GIL.
    chunks: list[bytes] = [
        message[3] for message in messages
        if message[0] == WATCH_CHUNK and type(message[3]) is bytes
    ]  # fmt: skip
    listed = [
        (WATCH_CHUNK, message[1], message[2], len(message[3]))
        if message[0] == WATCH_CHUNK and type(message[3]) is bytes else message
        for message in messages
    ]  # fmt: skip
    payload = marshal.dumps(listed)
    chunk_bytes = sum(len(chunk) for chunk in chunks)
    if len(payload) + chunk_bytes > MAX_FRAME_BYTES:
        size = len(payload) + chunk_bytes
        raise LimitExceededError(f"frame of {size} bytes exceeds {MAX_FRAME_BYTES}")
    return [_HEADER.pack(len(payload), chunk_bytes), payload, *chunks]


def read_frame(stream: BinaryIO) -> list[Message] | None:
    """The next frame, or None at end of input."""
    header = _read_exactly(stream, _HEADER.size)
    if header is None:
        return None
    size, chunk_bytes = _HEADER.unpack(header)
    if size + chunk_bytes > MAX_FRAME_BYTES:
        raise LimitExceededError(f"frame of {size + chunk_bytes} bytes exceeds {MAX_FRAME_BYTES}")
    payload = _read_exactly(stream, size)
    chunks = _read_exactly(stream, chunk_bytes) if chunk_bytes else b""
    if payload is None or chunks is None:
        return None
    messages = marshal.loads(payload)
    if not isinstance(messages, list):
        raise LimitExceededError("malformed frame: not a list of messages")
    return _with_chunks(messages, chunks)


def _with_chunks(messages: list[Any], chunks: bytes) -> list[Message]:
    """Well-formed messages, each watch chunk's length replaced by its bytes."""
    kept: list[Message] = []
    offset = 0
    for message in messages:
        if not (isinstance(message, tuple) and message and isinstance(message[0], int)):
            continue
        if message[0] == WATCH_CHUNK and len(message) == 4 and type(message[3]) is int:
            end = offset + message[3]
            if message[3] < 0 or end > len(chunks):
                raise LimitExceededError("malformed frame: watch chunks past the frame's end")
            kept.append((*message[:3], chunks[offset:end]))
            offset = end
            continue
        kept.append(message)
    if offset != len(chunks):
        raise LimitExceededError("malformed frame: watch chunk bytes left over")
    return kept


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
