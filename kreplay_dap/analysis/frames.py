"""Frames between the analysis and its reading process: a kind byte, a length, a payload.

Pages of rows travel as ``marshal`` data: it is written and read in C, keeps one copy of
each string the reading process shares between rows (verbs, actors, kinds, object keys),
and only ever comes from the process this one started (never from a file or a network).
"""

from __future__ import annotations

import os
import select
import struct

from recorder.errors import KreplayError

HEADER = struct.Struct(">BI")
MAX_FRAME = 256 << 20  # a page of 1,000 rows is about 90 KB; anything near this is broken
MAX_READS_PER_FRAME = MAX_FRAME // 4096 + 16
# worker -> analysis
PAGE = 1
END = 2
RESULT = 3
FAILED = 4
# analysis -> worker
ACK = 10
STOP = 11
COUNT = struct.Struct(">Q")


class WorkerError(KreplayError):
    """The reading process failed, stopped answering or broke the protocol."""


def write_frame(fd: int, kind: int, payload: bytes = b"") -> None:
    if len(payload) > MAX_FRAME:
        raise WorkerError(f"analysis frame of {len(payload)} bytes is over {MAX_FRAME}")
    data = memoryview(HEADER.pack(kind, len(payload)) + payload)
    for _ in range(len(data) // 512 + 2):  # each write moves at least 512 bytes (pipe atom)
        if not data:
            return
        data = data[os.write(fd, data) :]
    raise WorkerError("analysis frame could not be written")


def _read_exact(fd: int, size: int, timeout_s: float | None) -> bytes:
    chunks: list[bytes] = []
    left = size
    for _ in range(MAX_READS_PER_FRAME):
        if left == 0:
            return b"".join(chunks)
        if timeout_s is not None and not select.select([fd], [], [], timeout_s)[0]:
            raise WorkerError(f"the analysis' reading process sent nothing for {timeout_s:.0f} s")
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    raise WorkerError("analysis frame arrived in too many pieces")


def read_frame(fd: int, timeout_s: float | None = None) -> tuple[int, bytes]:
    """The next frame; ``EOFError`` when the other side closed the pipe before one began
    or in the middle of one."""
    kind, size = HEADER.unpack(_read_exact(fd, HEADER.size, timeout_s))
    if size > MAX_FRAME:
        raise WorkerError(f"analysis frame of {size} bytes announced (over {MAX_FRAME})")
    return kind, _read_exact(fd, size, timeout_s)
