"""Frames between the operator process and its writer: watch chunks travel after the list."""

from __future__ import annotations

import io
import marshal
import struct

import pytest

from recorder.capture import messages as m
from recorder.errors import KreplayError


def test_messages_and_watch_chunks_round_trip_in_order() -> None:
    sent = [
        (m.WATCH_OPEN, 1, 10, "/api/v1/pods?watch=1", "main", (), 0),
        (m.WATCH_CHUNK, 1, 11, b'{"type":"ADDED"}\n'),
        (m.CALL, 12, 3, "GET", "/api/v1/pods/a", "", None, 200, "OK", b"{}", "", "", "t", (), 0),
        (m.WATCH_CHUNK, 1, 13, b""),
        (m.WATCH_CHUNK, 1, 14, b'{"type":"DELETED"}\n'),
        (m.WATCH_CLOSE, 1),
    ]
    stream = io.BytesIO(b"".join(m.encode_frame_parts(sent)) + m.encode_frame([(m.FLUSH, 7)]))
    assert m.read_frame(stream) == sent
    assert m.read_frame(stream) == [(m.FLUSH, 7)]
    assert m.read_frame(stream) is None


def test_the_chunk_bytes_are_not_inside_the_marshalled_list() -> None:
    header, listed, *chunks = m.encode_frame_parts([(m.WATCH_CHUNK, 2, 5, b"abc\n")])
    assert struct.unpack(">II", header) == (len(listed), 4)
    assert marshal.loads(listed) == [(m.WATCH_CHUNK, 2, 5, 4)] and chunks == [b"abc\n"]


@pytest.mark.parametrize(
    ("listed", "chunk_bytes"),
    [([(m.WATCH_CHUNK, 1, 1, 9)], b"abc"), ([(m.WATCH_CHUNK, 1, 1, 1)], b"abc"),
     ([(m.WATCH_CHUNK, 1, 1, -1)], b"")],
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
        m.encode_frame_parts([(m.WATCH_CHUNK, 1, 1, b"x" * 65)])
    with pytest.raises(KreplayError):
        m.read_frame(io.BytesIO(struct.pack(">II", 10, 60)))
