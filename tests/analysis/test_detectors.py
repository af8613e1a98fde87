"""Detector behaviour on hand-written sessions: what must and must not be flagged."""

from __future__ import annotations

import gc
import itertools
import threading
from pathlib import Path

import pytest

from kreplay_dap.analysis import AnalysisOptions, analyze
from kreplay_dap.analysis.bodies import flatten
from kreplay_dap.analysis.model import default_threshold_ms
from recorder.collector import PASS_GC_THRESHOLD
from recorder.errors import InvalidInputError
from recorder.storage import open_recording
from tests.analysis.builders import (
    gadget,
    new_sim,
    reconcile_status,
    resync,
    save,
    seed_file,
    setter,
)


def run(path: Path, session: str = "s1", **options: object) -> list[tuple[str, str]]:
    recording = open_recording(str(path))
    try:
        report = analyze(recording, session, AnalysisOptions(**options))  # type: ignore[arg-type]
    finally:
        recording.close()
    return [(f.type, f.objects[0] if f.objects else "") for f in report.findings]


def test_resync_is_never_a_loop_whatever_its_period(tmp_path: Path) -> None:
    for period in (0.2, 2.0, 30.0, 600.0):
        sim = new_sim(f"resync-{period}")
        keys = [gadget(sim, f"g{index}") for index in range(6)]
        resync(sim, "gadget-controller", keys, period, 25)
        found = run(save(sim, tmp_path / f"{period}.db"), sim.session_id)
        assert not [f for f in found if f[0] == "loop"], (period, found)


def test_one_object_requeued_without_backoff_is_a_loop(tmp_path: Path) -> None:
    sim = new_sim()
    spinning, calm = gadget(sim, "spinning"), gadget(sim, "calm")
    resync(sim, "gadget-controller", [spinning], 0.1, 30)
    resync(sim, "gadget-controller", [calm], 60.0, 3)
    found = run(save(sim, tmp_path / "r.db"))
    assert ("loop", "Gadget/shop/spinning") in found
    assert ("loop", "Gadget/shop/calm") not in found


def test_interleaved_status_loop_is_found_with_sparse_evidence(tmp_path: Path) -> None:
    sim = new_sim()
    sim.watch("Gadget", "gadget-controller")
    looping, other = gadget(sim, "looping"), gadget(sim, "other")
    for index in range(20):
        reconcile_status(sim, "gadget-controller", looping, index)
        sim.write("alice", other, setter("spec", "size", index))  # an outside change...
        reconcile_status(sim, "gadget-controller", other, index)  # ...justifies this one
        sim.now_ns += 5 * 10**9
    recording = open_recording(str(save(sim, tmp_path / "l.db")))
    report = analyze(recording, "s1")
    recording.close()
    loops = report.of_type("loop")
    assert [f.objects for f in loops] == [["Gadget/shop/looping"]]
    evidence = loops[0].evidence
    assert all(b - a > 1 for a, b in itertools.pairwise(evidence))
    assert loops[0].period_s is not None and 4.0 < loops[0].period_s < 6.0
    assert "update/status" in loops[0].fields["pattern"]
    assert report.loops_detected[0]["occurrences"] == loops[0].count


def test_noop_writes_are_named_and_normalization_ignores_bookkeeping(tmp_path: Path) -> None:
    sim = new_sim()
    key = gadget(sim, "ticking")
    for index in range(10):
        reconcile_status(sim, "gadget-controller", key, index, noop=True)
        sim.now_ns += 10**9
    found = run(save(sim, tmp_path / "n.db"))
    assert ("noop-write", "Gadget/shop/ticking") in found
    assert ("loop", "Gadget/shop/ticking") in found
    first = {"metadata": {"name": "a", "resourceVersion": "1", "managedFields": [{"time": "x"}]},
             "status": {"lastUpdateTime": "2025-01-01T00:00:00Z", "ready": True}}  # fmt: skip
    second = {"metadata": {"name": "a", "resourceVersion": "2", "managedFields": []},
              "status": {"lastUpdateTime": "2025-01-01T00:00:09Z", "ready": True}}  # fmt: skip
    assert flatten(first) == flatten(second) == {"metadata.name": "a", "status.ready": True}


def test_long_loops_keep_bounded_evidence(tmp_path: Path) -> None:
    sim = new_sim()
    key = gadget(sim, "forever")
    for index in range(600):
        reconcile_status(sim, "gadget-controller", key, index)
    recording = open_recording(str(save(sim, tmp_path / "f.db")))
    report = analyze(recording, "s1")
    recording.close()
    (loop,) = report.of_type("loop")
    assert loop.count == 600
    assert len(loop.evidence) == 200


def test_object_limit_bounds_state_and_says_so(tmp_path: Path) -> None:
    sim = new_sim()
    keys = [gadget(sim, f"g{index}") for index in range(300)]
    resync(sim, "gadget-controller", keys, 30.0, 2)
    recording = open_recording(str(save(sim, tmp_path / "m.db")))
    report = analyze(recording, "s1", AnalysisOptions(max_objects=50))
    recording.close()
    assert any("forgotten" in note for note in report.notes)


def test_progress_is_reported_and_cancel_stops_early(tmp_path: Path) -> None:
    sim = new_sim()
    keys = [gadget(sim, f"g{index}") for index in range(50)]
    resync(sim, "gadget-controller", keys, 30.0, 20)
    recording = open_recording(str(save(sim, tmp_path / "c.db")))
    calls: list[tuple[int, int]] = []
    full = analyze(recording, "s1", AnalysisOptions(progress=lambda d, t: calls.append((d, t)),
                                                    progress_every=100))  # fmt: skip
    partial = analyze(recording, "s1", AnalysisOptions(cancel=lambda: True, progress_every=100))
    recording.close()
    assert calls[-1] == (full.total_operations, full.total_operations)
    assert len(calls) >= full.total_operations // 100
    assert partial.cancelled and partial.total_operations == 100


def test_a_pass_collects_less_often_and_restores_the_gc_even_when_it_fails(
    tmp_path: Path,
) -> None:
    sim = new_sim()
    resync(sim, "gadget-controller", [gadget(sim, f"g{index}") for index in range(20)], 30.0, 5)
    recording = open_recording(str(save(sim, tmp_path / "gc.db")))
    before = gc.get_threshold()
    during: list[tuple[int, int, int]] = []

    def look(done: int, total: int) -> None:
        during.append(gc.get_threshold())

    def refuse(done: int, total: int) -> None:
        raise InvalidInputError(f"stop at {done} of {total}")

    try:
        analyze(recording, "s1", AnalysisOptions(progress=look, progress_every=10))
        after_pass = gc.get_threshold()
        with pytest.raises(InvalidInputError):
            analyze(recording, "s1", AnalysisOptions(progress=refuse, progress_every=10))
    finally:
        recording.close()
    assert during and all(t[0] == max(before[0], PASS_GC_THRESHOLD) for t in during)
    assert all(t[1:] == before[1:] for t in during)
    assert after_pass == before
    assert gc.get_threshold() == before


def test_overlapping_passes_in_threads_restore_the_gc_once_both_end(tmp_path: Path) -> None:
    sim = new_sim()
    resync(sim, "gadget-controller", [gadget(sim, f"g{index}") for index in range(20)], 30.0, 5)
    path = save(sim, tmp_path / "threads.db")
    before = gc.get_threshold()
    both_inside = threading.Barrier(2)
    totals: list[int] = []

    def one_pass() -> None:
        recording = open_recording(str(path))
        try:
            met: list[bool] = []

            def meet(done: int, total: int) -> None:
                if not met:  # both passes are running at this point
                    met.append(True)
                    both_inside.wait(timeout=120)

            totals.append(analyze(recording, "s1", AnalysisOptions(progress=meet)).total_operations)
        finally:
            recording.close()

    threads = [threading.Thread(target=one_pass) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(totals) == 2 and totals[0] == totals[1] > 0
    assert gc.get_threshold() == before


def test_report_iterates_its_findings_and_keeps_the_go_json_keys(tmp_path: Path) -> None:
    sim = new_sim()
    key = gadget(sim, "x")
    for index in range(8):
        reconcile_status(sim, "gadget-controller", key, index)
    recording = open_recording(str(save(sim, tmp_path / "j.db")))
    report = analyze(recording, "s1")
    recording.close()
    assert list(report) == report.findings
    payload = report.to_json()
    assert {"session", "total_operations", "findings", "slow_operations", "errors",
            "loops_detected"} <= set(payload)  # fmt: skip
    assert set(payload["errors"]) == {"total", "by_type"}
    finding = payload["findings"][0]
    assert {"type", "objects", "first_seq", "last_seq", "count", "description",
            "evidence"} <= set(finding)  # fmt: skip


def test_go_tool_files_are_analysed_from_their_error_text(tmp_path: Path) -> None:
    rows: list[tuple[object, ...]] = []
    for index in range(12):
        rows.append((index + 1, 1_700_000_000 + index, "GET", "Secret", "shop", "creds", None,
                     'secrets "creds" is forbidden', 3))  # fmt: skip
    rows.append((13, 1_700_000_020, "LIST", "Pod", "shop", "", None, None, 2500))
    found = run(seed_file(tmp_path / "go.db", rows), "go-1", threshold_ms=1000)
    assert ("error", "Secret/shop/creds") in found
    assert ("slow", "") in found or any(f[0] == "slow" for f in found)


def test_recordings_of_the_sample_operators() -> None:
    """Real recorder output: the buggy operators are flagged, their fixed versions are not."""
    recordings = Path(__file__).resolve().parents[2] / "samples" / "recordings"
    expected = {
        ("hotloop.db", "hotloop-buggy"): {"loop", "noop-write"},
        ("hotloop.db", "hotloop-fixed"): set(),
        ("conflicts.db", "conflicts-buggy"): {"conflict"},
        ("conflicts.db", "conflicts-fixed"): set(),
        ("fight.db", "fight-buggy"): {"fight", "noop-write"},
        ("fight.db", "fight-fixed"): set(),
    }
    for (name, session), types in expected.items():
        recording = open_recording(str(recordings / name))
        try:
            report = analyze(recording, session)
        finally:
            recording.close()
        found = {f.type for f in report.findings if f.type != "slow"}
        # Buggy sessions show at least their bug; fixed ones show nothing at all.
        assert types <= found if types else not found, (session, report.findings)
        assert not found & {"lost-update"}, (session, report.findings)


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "0", "-3", "fast"])
def test_the_slow_threshold_variable_must_be_a_positive_finite_number(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    """Library callers (the debug adapter) read it too, not only the CLI, which checks first."""
    monkeypatch.setenv("REPLAY_SLOW_THRESHOLD", raw)
    with pytest.raises(InvalidInputError, match="REPLAY_SLOW_THRESHOLD"):
        default_threshold_ms()
    monkeypatch.setenv("REPLAY_SLOW_THRESHOLD", "250.5")
    assert default_threshold_ms() == 250.5
