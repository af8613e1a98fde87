"""Frames between the operator process and its writer: watch chunks travel after the list."""

from __future__ import annotations

import io
import marshal
import os
import struct
from typing import Any

import pytest

import recorder.capture.pipeline as pipeline_module
from recorder.capture import messages as m
from recorder.capture.pipeline import Pipeline
from recorder.errors import KreplayError


def test_messages_and_watch_chunks_round_trip_in_order() -> None:
    sent = [
        (m.WATCH_OPEN, 1, 10, "/api/v1/pods?watch=1", "main", (), 0, m.FRAMING_DECODED),
        (1, 11, b'{"type":"ADDED"}\n'),
        (m.CALL, 12, 3, "GET", "/api/v1/pods/a", "", None, 200, "OK", b"{}", "", "", "t", (), 0),
        (1, 13, b""),
        (2, 14, b'{"type":"DELETED"}\n'),
        (1, 15, b"{}\n"),
        (m.WATCH_CLOSE, (1, 0)),
    ]
    stream = io.BytesIO(b"".join(m.encode_frame_parts(sent)) + m.encode_frame([(m.FLUSH, 7)]))
    assert m.read_frame(stream) == [
        sent[0],
        (m.WATCH_RUN, (1,), (11,), [b'{"type":"ADDED"}\n']),
        sent[2],
        (m.WATCH_RUN, (1, 2, 1), (13, 14, 15), [b"", b'{"type":"DELETED"}\n', b"{}\n"]),
        sent[6],
    ]
    assert m.read_frame(stream) == [(m.FLUSH, 7)]
    assert m.read_frame(stream) is None


def test_the_chunk_bytes_are_not_inside_the_marshalled_list() -> None:
    header, listed, *chunks = m.encode_frame_parts([(2, 5, b"abc\n"), (2, 6, b"de\n")])
    assert struct.unpack(">II", header) == (len(listed), 7)
    assert marshal.loads(listed) == [(m.WATCH_RUN, [2, 2], [5, 6], [4, 3])]
    assert chunks == [b"abc\n", b"de\n"]


def test_a_chunk_that_is_not_bytes_is_refused_by_the_sender() -> None:
    with pytest.raises(ValueError):
        m.encode_frame_parts([(2, 5, b"abc\n"), (2, 6, "text")])


@pytest.mark.parametrize(
    ("listed", "chunk_bytes"),
    [([(m.WATCH_RUN, (1,), (1,), [9])], b"abc"), ([(m.WATCH_RUN, (1,), (1,), [1])], b"abc"),
     ([(m.WATCH_RUN, (1,), (1,), [-1])], b""), ([(m.WATCH_RUN, (1, 1), (1,), [1, 2])], b"abc"),
     ([(m.WATCH_RUN, (1,), ("1",), [3])], b"abc"), ([(m.WATCH_RUN, (1,), (1,))], b"abc")],
)  # fmt: skip
def test_chunk_lengths_that_do_not_add_up_are_rejected(
    listed: list[tuple[int, ...]], chunk_bytes: bytes
) -> None:
    payload = marshal.dumps(listed)
    frame = struct.pack(">II", len(payload), len(chunk_bytes)) + payload + chunk_bytes
    with pytest.raises(KreplayError):
        m.read_frame(io.BytesIO(frame))


def test_a_frame_over_the_limit_is_refused_on_both_sides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(m, "MAX_FRAME_BYTES", 64)
    with pytest.raises(KreplayError):
        m.encode_frame_parts([(1, 1, b"x" * 65)])
    with pytest.raises(KreplayError):
        m.read_frame(io.BytesIO(struct.pack(">II", 10, 60)))


class _FakeWriter:
    """A writer process's stdin, for ``Pipeline._write`` alone (no process)."""

    class stdin:  # read as ``proc.stdin``
        @staticmethod
        def fileno() -> int:
            return -7


@pytest.mark.parametrize("take", [None, 777])
def test_the_sender_writes_every_part_in_order_whatever_each_writev_takes(
    monkeypatch: pytest.MonkeyPatch, take: int | None
) -> None:
    """More parts than one ``writev`` may carry, some empty, some views of a ring; the
    pipe takes them all at once (blocking) or ``take`` bytes a call (interrupted)."""
    pipeline = Pipeline.__new__(Pipeline)
    pipeline._proc = _FakeWriter()  # type: ignore[assignment]
    pipeline.failures = 0
    received = bytearray()

    def writev(fd: int, parts: list[Any]) -> int:
        assert fd == -7 and 0 < len(parts) <= pipeline_module._IOV_MAX
        data = b"".join(map(bytes, parts))[:take]
        received.extend(data)
        return len(data)

    monkeypatch.setattr(os, "writev", writev)
    ring = memoryview(bytearray(range(256)) * 40)
    parts: list[Any] = [bytes([i % 256]) * (i % 37) for i in range(2500)]
    parts[1::5] = [ring[i : i + 300] for i in range(0, 500, 1)]
    assert pipeline._write(*parts)
    assert bytes(received) == b"".join(map(bytes, parts)) and pipeline.failures == 0
