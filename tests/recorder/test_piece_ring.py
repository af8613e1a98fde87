"""The watch streams' ring: copies stay intact until the sender gives their space back."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.capture.piece_ring import PieceRing


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


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["copy", "mark", "send"]), st.integers(1, 40)),
                max_size=200))  # fmt: skip
def test_no_piece_is_overwritten_before_the_sender_gives_it_back(
    steps: list[tuple[str, int]],
) -> None:
    """The writer copies and publishes; the sender reads a mark, later gives it back."""
    ring, waiting, mark, number = PieceRing(97), [], 0, 0
    for action, size in steps:
        if action == "copy":
            number += 1
            data = bytes([number % 251]) * size
            view = ring.copy(data)
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
