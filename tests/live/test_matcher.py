"""Unit tests of pairing live writes with recorded ones."""

from __future__ import annotations

from kreplay_dap.live.matcher import LiveWrite, WriteMatcher
from kreplay_dap.live.report import EXTRA, MISMATCH, MISSING, RecordedWrite


def recorded(seq: int, verb: str, name: str, replicas: int) -> RecordedWrite:
    return RecordedWrite(seq, verb, "Widget", "default", name, {"spec": {"replicas": replicas}})


def live(verb: str, name: str, replicas: int) -> LiveWrite:
    return LiveWrite(verb, "Widget", "default", name, {"spec": {"replicas": replicas}})


def test_identical_writes_match_in_order() -> None:
    matcher = WriteMatcher([recorded(3, "patch", "a", 1), recorded(7, "patch", "b", 2)])
    first = matcher.observe(live("patch", "a", 1))
    second = matcher.observe(live("patch", "b", 2))
    assert first.matched and first.step is not None and first.step.seq == 3
    assert second.matched and second.step is not None and second.step.seq == 7
    assert matcher.finish() == []


def test_a_different_body_is_a_mismatch_with_the_field_diff() -> None:
    matcher = WriteMatcher([recorded(3, "patch", "a", 1)])
    verdict = matcher.observe(live("patch", "a", 5))
    assert not verdict.matched
    (divergence,) = verdict.divergences
    assert divergence.kind == MISMATCH and divergence.step == 3
    assert [(d.path, d.recorded, d.live) for d in divergence.differences] == [
        (".spec.replicas", 1, 5)
    ]
    assert "differs in .spec.replicas" in divergence.message


def test_an_unexpected_write_is_extra_and_consumes_nothing() -> None:
    matcher = WriteMatcher([recorded(3, "patch", "a", 1)])
    verdict = matcher.observe(live("delete", "zzz", 0))
    assert [d.kind for d in verdict.divergences] == [EXTRA]
    assert [w.seq for w in matcher.remaining] == [3]


def test_skipping_a_recorded_write_reports_it_missing() -> None:
    matcher = WriteMatcher([recorded(3, "update", "a", 1), recorded(4, "patch", "b", 2)])
    verdict = matcher.observe(live("patch", "b", 2))
    assert [(d.kind, d.step) for d in verdict.divergences] == [(MISSING, 3)]
    assert verdict.step is not None and verdict.step.seq == 4


def test_writes_left_when_idle_are_missing() -> None:
    matcher = WriteMatcher([recorded(3, "patch", "a", 1), recorded(9, "delete", "a", 0)])
    matcher.observe(live("patch", "a", 1))
    assert [(d.kind, d.step) for d in matcher.finish()] == [(MISSING, 9)]
    assert matcher.remaining == []
