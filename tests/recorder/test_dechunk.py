"""The writer's HTTP chunked decoder: any split of the bytes, bad framing, and gaps."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.capture.dechunk import ChunkedDecoder, ChunkingError, chunk_size


def event(index: int, padding: int = 0) -> bytes:
    obj = {"metadata": {"name": f"cm-{index}"}, "pad": "x" * padding}
    body = {"type": "MODIFIED", "object": obj}
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def chunked(parts: list[bytes]) -> bytes:
    """As Go's net/http frames a body: lowercase hex sizes, no extensions."""
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def feed_in_pieces(decoder: ChunkedDecoder, wire: bytes, cuts: list[int]) -> bytes:
    bounds = [0, *sorted({cut % (len(wire) + 1) for cut in cuts}), len(wire)]
    return b"".join(decoder.feed(wire[start:stop]) for start, stop in itertools.pairwise(bounds))


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 300), min_size=1, max_size=30),
    cuts=st.lists(st.integers(0, 1 << 20), max_size=40),
)
def test_any_split_of_the_bytes_gives_the_body(sizes: list[int], cuts: list[int]) -> None:
    parts = [event(index, padding) for index, padding in enumerate(sizes)]
    decoder = ChunkedDecoder()
    assert feed_in_pieces(decoder, chunked(parts), cuts) == b"".join(parts)
    assert decoder.finished


def test_extensions_trailers_and_bytes_after_the_end() -> None:
    wire = b"5;name=value\r\nhello\r\n1 \r\n!\r\n0\r\nX-Trailer: yes\r\n\r\nignored"
    decoder = ChunkedDecoder()
    assert decoder.feed(wire) == b"hello!"
    assert decoder.finished


@pytest.mark.parametrize(
    "wire",
    [b"zz\r\nab\r\n", b"0x2\r\nab\r\n", b"2\r\nabXY\r\n", b"1" * 5000, b"+2\r\nab\r\n"],
    ids=["not hex", "0x prefix", "no CR LF after the data", "endless size line", "sign"],
)
def test_bad_framing_is_an_error(wire: bytes) -> None:
    with pytest.raises(ChunkingError):
        ChunkedDecoder().feed(wire)


def test_chunk_size_lines() -> None:
    assert chunk_size(b"1a\r\n") == 26
    assert chunk_size(b"1A;ext\r\n") == 26
    assert chunk_size(b"1a\n") is None
    assert chunk_size(b"\r\n") is None
    assert chunk_size(b"1" * 17 + b"\r\n") is None


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 200), min_size=4, max_size=30),
    gap=st.tuples(st.integers(0, 1 << 20), st.integers(0, 1 << 20)),
)
def test_after_a_gap_only_whole_events_come_out_in_order(
    sizes: list[int], gap: tuple[int, int]
) -> None:
    parts = [event(index, padding) for index, padding in enumerate(sizes)]
    wire = chunked(parts)
    start, stop = sorted(position % len(wire) for position in gap)
    decoder = ChunkedDecoder()
    before = decoder.feed(wire[:start])
    decoder.lost_sync()
    after = decoder.feed(wire[stop:])
    assert b"".join(parts).startswith(before)
    recovered = after.splitlines(keepends=True)
    first = len(parts) - len(recovered)
    assert recovered == parts[first:]  # whole events, a suffix, nothing invented
    # The resumption point: at the latest, the second chunk that starts after the gap.
    chunk_starts = [wire.index(b"%x\r\n%s" % (len(part), part)) for part in parts]
    later = [index for index, offset in enumerate(chunk_starts) if offset >= stop]
    assert not later or first <= later[min(1, len(later) - 1)]


def test_a_guess_over_the_limit_or_of_the_last_chunk_is_not_trusted() -> None:
    decoder = ChunkedDecoder()
    decoder.lost_sync()
    wire = b"ffffffff\r\n" + event(1) + b"\r\n0\r\n\r\n" + b"2\r\nab\r\n"
    assert decoder.feed(wire) == b"ab"  # the first chunk that proves itself
    assert not decoder.finished  # "0" after a gap proves nothing: it kept scanning
    decoder.lost_sync()
    assert decoder.feed(b"\r\n" + b"%x\r\n%s\r\n" % (len(event(2)), event(2))) == event(2)
