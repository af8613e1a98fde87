"""The call-site walk: the caller's own frames, with the right lines, also from its caches."""

from __future__ import annotations

import sys

from recorder.capture.callsite import MAX_FRAMES, call_site


def outer() -> list[tuple[tuple[str, int, str], ...]]:
    return [call_site(1), inner()]


def inner() -> tuple[tuple[str, int, str], ...]:
    return call_site(1)


def test_each_call_keeps_its_own_line_on_every_pass() -> None:
    seen = []
    for _ in range(3):  # later passes are answered from the per-code caches
        first, first_line = call_site(1), sys._getframe().f_lineno
        second, second_line = call_site(1), sys._getframe().f_lineno
        seen.append((first[0], second[0]))
    function = "test_each_call_keeps_its_own_line_on_every_pass"
    expected = ((__file__, first_line, function), (__file__, second_line, function))
    assert first_line != second_line and seen == [expected] * 3


def test_the_walk_goes_up_the_stack_and_stops_at_the_limit() -> None:
    for _ in range(2):
        from_outer, from_inner = outer()
        assert [frame[2] for frame in from_outer[:2]] == [
            "outer",
            "test_the_walk_goes_up_the_stack_and_stops_at_the_limit",
        ]
        assert [frame[2] for frame in from_inner[:3]] == ["inner", "outer", from_outer[1][2]]
        assert len(from_inner) <= MAX_FRAMES
