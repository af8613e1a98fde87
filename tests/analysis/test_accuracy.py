"""Precision and recall of every detector on randomized, labelled scenario sessions."""

from __future__ import annotations

from pathlib import Path

import pytest

from kreplay_dap.analysis import LOOP_LIKE, analyze
from recorder.storage import open_recording
from samples.scenarios import Label, Scenario
from samples.scenarios.score import SCORED, Score, score_session

Corpus = tuple[Path, dict[str, tuple[Scenario, set[Label]]]]


@pytest.fixture(scope="module")
def score(corpus: Corpus) -> Score:
    path, sessions = corpus
    result = Score()
    recording = open_recording(str(path))
    try:
        for session, (scenario, labels) in sessions.items():
            findings = analyze(recording, session).findings
            score_session(result, session, scenario, labels, findings)
    finally:
        recording.close()
    return result


def test_loop_like_findings_reach_the_targets(score: Score) -> None:
    precision, recall = score.combined(LOOP_LIKE)
    assert precision >= 0.95, score.details
    assert recall >= 0.95, score.details
    for kind in LOOP_LIKE:
        assert score.true_positives[kind] >= 12, f"too few {kind} cases to mean anything"


@pytest.mark.parametrize("kind", SCORED)
def test_each_type_is_precise_and_complete(score: Score, kind: str) -> None:
    assert score.precision(kind) >= 0.95, [d for d in score.details if kind in d]
    assert score.recall(kind) >= 0.95, [d for d in score.details if kind in d]


def test_negative_controls_raise_no_loop_or_race(score: Score) -> None:
    assert score.negative_flags == 0, score.details


def test_backoff_retries_are_errors_not_storms(score: Score) -> None:
    assert score.backoff_total >= 24
    assert score.backoff_right == score.backoff_total, score.details
