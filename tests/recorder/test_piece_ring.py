"""The watch streams' ring: copies stay intact until the sender gives their space back."""

from __future__ import annotations

import mmap

from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.capture.piece_ring import PieceRing

PAGE = mmap.PAGESIZE


def test_a_copy_is_a_view_of_the_same_bytes_and_the_source_may_change_after() -> None:
    ring = PieceRing(64)
    source = bytearray(b"abcdef")
    view = ring.copy(memoryview(source)[:4])
    source[:] = b"zzzzzz"  # the socket file's buffer, reused for the next read
    assert view is not None and bytes(view) == b"abcd"
    assert (ring.head, ring.written) == (4, 4)


def test_a_full_ring_refuses_and_takes_pieces_again_once_given_back() -> None:
    ring = PieceRing(10)
    assert ring.copy(b"123456") is not None
    assert ring.copy(b"7890x") is None  # 5 bytes, 4 free
    ring.reserved = ring.written
    ring.released = ring.reserved  # the sender sent them
    view = ring.copy(b"7890x")
    assert view is not None and bytes(view) == b"7890x"
    assert ring.head == 5  # an empty ring starts over at its beginning


def test_a_piece_that_does_not_fit_before_the_end_goes_to_the_beginning() -> None:
    ring = PieceRing(10)
    ring.copy(b"aaaa")
    ring.copy(b"bbbb")
    ring.released = 4  # "aaaa" was sent; "bbbb" waits at 4-8
    view = ring.copy(b"ccc")  # 2 bytes left at the end: skipped, counted as used
    assert view is not None and bytes(view) == b"ccc"
    assert (ring.head, ring.written) == (3, 13)
    assert ring.copy(b"d") is not None and ring.copy(b"e") is None  # 3-4 free, then full


def test_a_quiet_stream_only_touches_the_rings_first_bytes() -> None:
    ring = PieceRing(1 << 20)
    for _ in range(1000):  # each piece sent before the next arrives
        assert ring.copy(b"x" * 300) is not None
        ring.reserved = ring.released = ring.written
    assert ring.head == 300


def test_without_a_mapping_every_piece_is_refused() -> None:
    ring = PieceRing(0)
    assert ring.size == 0 and ring.copy(b"x") is None


def test_a_socket_read_fills_space_and_keeps_only_what_it_got() -> None:
    ring = PieceRing(100)
    space = ring.space(60)  # a read of up to 60 bytes
    assert space is not None and len(space) == 60
    assert (ring.head, ring.written) == (0, 0)  # nothing is used until it is kept
    space[:5] = b"hello"
    piece = ring.keep(5)  # the socket had 5 bytes
    assert bytes(piece) == b"hello" and (ring.head, ring.written) == (5, 5)
    assert ring.space(96) is None and ring.space(95) is not None  # 95 free


def test_space_past_the_end_starts_at_the_beginning_once_kept() -> None:
    ring = PieceRing(100)
    ring.keep(len(ring.space(70) or b""))
    ring.released = 60  # 60-70 waits
    space = ring.space(50)  # 30 bytes left at the end: skipped
    assert space is not None
    assert (ring.head, ring.written) == (70, 70)
    ring.keep(40)
    assert (ring.head, ring.written) == (40, 140)  # the 30 skipped count as used
    assert ring.space(21) is None and ring.space(20) is not None  # 40-60 is free


def test_trim_gives_the_pages_past_the_kept_bytes_back_as_zeros() -> None:
    ring = PieceRing(8 * PAGE)
    piece = ring.copy(b"\xff" * (8 * PAGE))
    assert piece is not None
    ring.reserved = ring.released = ring.written
    ring.trim(2 * PAGE + 1)  # keeps whole pages: the third is given back too
    assert ring.trimmed_at == ring.written
    assert bytes(piece[: 2 * PAGE]) == b"\xff" * (2 * PAGE)
    assert bytes(piece[2 * PAGE :]) == bytes(6 * PAGE)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["copy", "read", "mark", "send"]),
                          st.integers(1, 40)), max_size=200))  # fmt: skip
def test_no_piece_is_overwritten_before_the_sender_gives_it_back(
    steps: list[tuple[str, int]],
) -> None:
    """The writer copies and publishes; the sender reads a mark, later gives it back."""
    ring, waiting, mark, number = PieceRing(97), [], 0, 0
    for action, size in steps:
        if action in ("copy", "read"):
            number += 1
            data = bytes([number % 251]) * size
            view = ring.copy(data) if action == "copy" else _read(ring, data)
            if view is not None:
                waiting.append((view, data, ring.written))
                ring.reserved = ring.written
        elif action == "mark":
            mark = ring.reserved
        else:
            ring.released = max(ring.released, mark)
        for view, data, end in waiting:
            assert end <= ring.released or bytes(view) == data
        assert 0 <= ring.written - ring.released <= ring.size


def _read(ring: PieceRing, data: bytes) -> memoryview | None:
    """A socket read as the tee makes it: space for twice as much, ``data`` arrives."""
    space = ring.space(2 * len(data))
    if space is None:
        return None
    space[: len(data)] = data
    return ring.keep(len(data))
