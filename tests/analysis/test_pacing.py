"""A pass' pacing: progress points, cancellation and the ``max_ops`` cut-off, on a real
recording, for many combinations of the options (the pass hands runs of operations on
in C and stops at each progress point)."""

from __future__ import annotations

import itertools

import pytest

from kreplay_dap.analysis import AnalysisOptions, AnalysisReport, analyze
from recorder.storage import Recording, open_recording
from tests.analysis.builders import gadget, new_sim, resync, save


@pytest.fixture(scope="module")
def recording_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    sim = new_sim()
    resync(sim, "gadget-controller", [gadget(sim, f"g{index}") for index in range(7)], 30.0, 9)
    return str(save(sim, tmp_path_factory.mktemp("pacing") / "p.db"))


def _paced_pass(
    recording: Recording, every: int, max_ops: int, cancel_at: int | None
) -> tuple[AnalysisReport, list[tuple[int, int]]]:
    """One pass whose ``cancel()`` says yes on its ``cancel_at``-th question."""
    calls: list[tuple[int, int]] = []
    asked = [0]

    def cancel() -> bool:
        asked[0] += 1
        return cancel_at is not None and asked[0] >= cancel_at

    options = AnalysisOptions(
        progress=lambda done, whole: calls.append((done, whole)), cancel=cancel,
        progress_every=every, max_ops=max_ops,
    )  # fmt: skip
    return analyze(recording, "s1", options), calls


def test_progress_cancel_and_max_ops_keep_their_promises(recording_path: str) -> None:
    recording = open_recording(recording_path)
    total = recording.session("s1").op_count
    assert total > 20
    everything = analyze(recording, "s1").to_json()
    for every, max_ops, cancel_at in itertools.product(
        (1, 3, 7, total, total + 5), (0, 1, 6, 7, total - 1, total, total + 3), (None, 1, 2)
    ):
        report, calls = _paced_pass(recording, every, max_ops, cancel_at)
        limit = min(max_ops, total)
        points = list(range(every, limit + 1, every))
        if cancel_at is not None and len(points) >= cancel_at:
            stop = points[cancel_at - 1]
            assert report.cancelled and report.total_operations == stop
            assert calls == [(point, total) for point in points[:cancel_at]] + [(stop, total)]
        else:
            assert not report.cancelled and report.total_operations == limit
            assert calls == [(point, total) for point in points] + [(limit, total)]
        if limit == total and not report.cancelled:
            assert report.to_json() == everything
    recording.close()
