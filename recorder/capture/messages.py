"""The messages the operator process hands to its writer process, and their framing.

A frame is an 8-byte header (two big-endian lengths), a ``marshal``-encoded list of
message tuples, then the bytes of the frame's watch chunks, back to back. In the queue a
watch chunk is a bare ``(stream, ts_ns, bytes)`` triple (the only 3-tuple message: it is
cheap to build on the operator's thread); in the frame, each run of consecutive chunks
becomes one ``WATCH_RUN`` message that lists their streams, times and lengths, built
with ``map`` in C rather than a Python step per event. The operator side writes
the chunk bytes as they are (one ``writev``, no copy while holding the GIL) and the
writer slices them back in. ``marshal`` only knows plain data, so a frame can never run
code in the writer.
"""

from __future__ import annotations

import marshal
import struct
from operator import itemgetter
from typing import Any, BinaryIO

from recorder.errors import LimitExceededError

CALL = 1  # ts_ns, duration_us, method, url, content_type, request body, status, reason,
#           response bytes, exception type, exception text, thread, call site, span token
WATCH_OPEN = 2  # stream, ts_ns, url, thread, call site, span token, framing
WATCH_RUN = 3  # streams, ts_ns of each, then in a frame: chunk lengths; once read: chunks
WATCH_CLOSE = 4  # (stream, bytes of its last chunk the client never read): 2 fields, not 3
SPAN_START = 5  # span token, kind, namespace, name, trigger, thread, start_ns
SPAN_END = 6  # span token, end_ns, error
DROPPED = 7  # count
FLUSH = 8  # token
END = 9  # ended_ns
SETTLE = 10  # (no fields) half a second without new messages: decode what is held back
CHUNK_FIELDS = 3  # a queued watch chunk: (stream, ts_ns, bytes); no other message has 3
_PIECE_TYPES = {bytes, memoryview}  # a socket read's copy is a view of the pipeline's ring
# A chunk's stream is negative when chunks of that stream were dropped just before it.

# What a watch stream's chunks hold (WATCH_OPEN's last field):
FRAMING_DECODED = 0  # what urllib3 handed the client: body bytes
FRAMING_CHUNKED = 1  # socket reads of an HTTP chunked body
FRAMING_IDENTITY = 2  # socket reads of a body sent as it is

MAX_FRAME_BYTES = 256 << 20
_HEADER = struct.Struct(">II")  # marshalled messages, then watch chunk bytes

Message = tuple[Any, ...]
_FIRST, _SECOND, _THIRD = itemgetter(0), itemgetter(1), itemgetter(2)


def encode_frame(messages: list[Message]) -> bytes:
    """Raises ValueError when a message holds something that is not plain data."""
    return b"".join(encode_frame_parts(messages))


def encode_frame_parts(messages: list[Message]) -> list[bytes]:
    """The frame as parts, to be written with ``writev``: header, messages, chunk bytes."""
    listed, chunks = _listed(messages)
    payload = marshal.dumps(listed)
    chunk_bytes = sum(map(len, chunks))
    if len(payload) + chunk_bytes > MAX_FRAME_BYTES:
        size = len(payload) + chunk_bytes
        raise LimitExceededError(f"frame of {size} bytes exceeds {MAX_FRAME_BYTES}")
    return [_HEADER.pack(len(payload), chunk_bytes), payload, *chunks]


def _listed(messages: list[Message]) -> tuple[list[Message], list[bytes]]:
    """Messages with each run of queued chunks as one ``WATCH_RUN``, and the chunk bytes.

    This runs on the sender thread, holding the GIL: the per-event work is done by
    ``map`` and ``itemgetter`` in C (``zip(*run)`` costs ten times as much); Python
    steps only happen per other message and per run.
    """
    sizes = list(map(len, messages))
    if CHUNK_FIELDS not in sizes:
        return messages, []
    others = [index for index, size in enumerate(sizes) if size != CHUNK_FIELDS]
    listed: list[Message] = []
    chunks: list[bytes] = []
    start = 0
    for stop in [*others, len(messages)]:
        if stop > start:
            run = messages[start:stop]
            data = list(map(_THIRD, run))
            if not set(map(type, data)) <= _PIECE_TYPES:
                raise ValueError("a watch chunk is not bytes")
            streams, stamps = list(map(_FIRST, run)), list(map(_SECOND, run))
            listed.append((WATCH_RUN, streams, stamps, list(map(len, data))))
            chunks.extend(data)
        if stop < len(messages):
            listed.append(messages[stop])
        start = stop + 1
    return listed, chunks


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
    """Well-formed messages, each watch run's lengths replaced by its chunks' bytes."""
    kept: list[Message] = []
    offset = 0
    for message in messages:
        if not (isinstance(message, tuple) and message and isinstance(message[0], int)):
            continue
        if message[0] != WATCH_RUN:
            kept.append(message)
            continue
        _, streams, stamps, lengths = _run_fields(message)
        pieces = []
        for length in lengths:
            end = offset + length
            if length < 0 or end > len(chunks):
                raise LimitExceededError("malformed frame: watch chunks past the frame's end")
            pieces.append(chunks[offset:end])
            offset = end
        kept.append((WATCH_RUN, streams, stamps, pieces))
    if offset != len(chunks):
        raise LimitExceededError("malformed frame: watch chunk bytes left over")
    return kept


_RunFields = tuple[int, tuple[int, ...], tuple[int, ...], list[int]]


def _run_fields(message: tuple[Any, ...]) -> _RunFields:
    """A ``WATCH_RUN`` as read: equally long sequences of integers, or an error."""
    if len(message) != 4:
        raise LimitExceededError("malformed frame: a watch run needs four fields")
    _, streams, stamps, lengths = message
    columns = (streams, stamps, lengths)
    if not all(isinstance(column, tuple | list) for column in columns) or not (
        len(streams) == len(stamps) == len(lengths)
    ):
        raise LimitExceededError("malformed frame: a watch run's columns differ in length")
    if not all(set(map(type, column)) <= {int} for column in columns):
        raise LimitExceededError("malformed frame: a watch run holds a non-integer")
    return WATCH_RUN, tuple(streams), tuple(stamps), list(lengths)


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
