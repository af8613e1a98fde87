"""The two-process analysis (a reading process running the world-free detectors) gives
exactly the single-process report, stops where the caller stopped, and turns a failing
reading process into a KreplayError."""

from __future__ import annotations

import itertools
import json
import os
import signal
from pathlib import Path

import pytest

from kreplay_dap.analysis import AnalysisOptions, analyze, offload
from recorder.errors import KreplayError, NotARecordingError
from recorder.frames import WorkerError
from recorder.storage import Recording, open_recording
from recorder.storage.reader import KreplayRecording
from samples.scenarios import Label, Scenario
from tests.analysis.builders import gadget, new_sim, resync, save, seed_file

Corpus = tuple[Path, dict[str, tuple[Scenario, set[Label]]]]
# Seed 0 with reconcile spans, seed 2 without (every third variant strips them).
OFFLOAD_SEEDS = ("-0", "-2")
OPTION_SETS: tuple[dict[str, int], ...] = ({}, {"window": 3, "max_objects": 20})


def _report(recording: Recording, session: str, parallel: bool, **options: object) -> str:
    report = analyze(recording, session, AnalysisOptions(parallel=parallel, **options))  # type: ignore[arg-type]
    return json.dumps(report.to_json())


def test_two_processes_give_the_single_process_report_on_the_corpus(corpus: Corpus) -> None:
    path, sessions = corpus
    chosen = [name for name in sessions if name.endswith(OFFLOAD_SEEDS)]
    assert len(chosen) >= 16
    recording = open_recording(str(path))
    try:
        for session, options in itertools.product(chosen, OPTION_SETS):
            serial = _report(recording, session, False, **options)
            assert _report(recording, session, True, **options) == serial, (session, options)
    finally:
        recording.close()


@pytest.fixture(scope="module")
def resync_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    sim = new_sim()
    resync(sim, "gadget-controller", [gadget(sim, f"g{index}") for index in range(7)], 30.0, 9)
    return str(save(sim, tmp_path_factory.mktemp("offload") / "r.db"))


def _paced(recording: Recording, parallel: bool, every: int, max_ops: int, cancel_at: int) -> str:
    calls: list[tuple[int, int]] = []
    asked = [0]

    def cancel() -> bool:
        asked[0] += 1
        return asked[0] >= cancel_at

    options = AnalysisOptions(
        progress=lambda done, whole: calls.append((done, whole)), cancel=cancel,
        progress_every=every, max_ops=max_ops, parallel=parallel, window=2,
    )  # fmt: skip
    report = analyze(recording, "s1", options)
    return json.dumps([report.to_json(), calls])


def test_cancel_and_max_ops_stop_both_processes_at_the_same_operation(resync_path: str) -> None:
    recording = open_recording(resync_path)
    total = recording.session("s1").op_count
    try:
        for every, max_ops, cancel_at in itertools.product((1, 40), (3, total), (2, 1_000_000)):
            serial = _paced(recording, False, every, max_ops, cancel_at)
            assert _paced(recording, True, every, max_ops, cancel_at) == serial
    finally:
        recording.close()


def test_the_reading_process_notes_the_operation_limit(corpus: Corpus) -> None:
    path, sessions = corpus
    session = next(iter(sessions))
    reports, notes = [], []
    for parallel in (False, True):
        recording = open_recording(str(path), max_ops=50)
        assert isinstance(recording, KreplayRecording)
        try:
            reports.append(_report(recording, session, parallel))
            notes.append(list(recording.limit_events))
        finally:
            recording.close()
    assert reports[0] == reports[1]
    assert notes[0] == notes[1] and any("50-operation limit" in note for note in notes[1])


def test_a_reading_process_that_cannot_open_the_file_is_a_kreplay_error(
    resync_path: str, tmp_path: Path
) -> None:
    copy = tmp_path / "gone.db"
    copy.write_bytes(Path(resync_path).read_bytes())
    recording = open_recording(str(copy))
    copy.unlink()  # this process keeps its open file; the reading process finds none
    try:
        with pytest.raises(NotARecordingError):
            analyze(recording, "s1", AnalysisOptions(parallel=True))
    finally:
        recording.close()


def _children() -> list[int]:
    tasks = Path("/proc/self/task")
    found = []
    for task in tasks.iterdir():
        found += [int(pid) for pid in (task / "children").read_text().split()]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_reading_process_killed_midway_is_a_kreplay_error_not_a_hang(
    resync_path: str,
) -> None:
    before = set(_children())
    killed: list[int] = []

    def kill_reader(done: int, _total: int) -> None:
        for pid in set(_children()) - before - set(killed):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    recording = open_recording(resync_path)
    try:
        options = AnalysisOptions(parallel=True, progress=kill_reader, progress_every=1)
        with pytest.raises(KreplayError) as raised:
            analyze(recording, "s1", options)
    finally:
        recording.close()
    assert killed
    assert isinstance(raised.value, WorkerError)
    assert set(_children()) <= before  # reaped, not left behind


def test_automatic_mode_keeps_small_sessions_and_other_files_in_process(
    resync_path: str, tmp_path: Path
) -> None:
    recording = open_recording(resync_path)
    total = recording.session("s1").op_count
    try:
        assert not offload.wanted(recording, total, AnalysisOptions())
        assert not offload.wanted(recording, 10**9, AnalysisOptions(parallel=False))
        assert offload.wanted(recording, total, AnalysisOptions(parallel=True))
    finally:
        recording.close()
    rows: list[tuple[object, ...]] = [(1, 1, "get", "Pod", "ns", "p", "{}", "", 5)]
    seed = open_recording(str(seed_file(tmp_path / "seed.db", rows)))
    try:
        assert not offload.wanted(seed, 10**9, AnalysisOptions(parallel=True))
    finally:
        seed.close()
