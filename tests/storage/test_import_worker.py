"""The import's helper process: the same recording as an import in one process, the
source's errors as our one-line errors, and a helper that dies as a KreplayError."""

from __future__ import annotations

import marshal
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from kreplay_dap.analysis.verify import verify_recording
from recorder.errors import KreplayError, NotARecordingError
from recorder.frames import MAX_FRAME, WorkerError
from recorder.storage import Operation, import_worker, importer, open_recording
from recorder.storage.exporter import export_session
from recorder.storage.importer import import_recording
from recorder.storage.seed_reader import Converted
from tests.storage.seedfiles import V2_INSERT, v2_rows, write_seed_v2


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[import_worker.ImportWorker]:
    """The helper processes the imports of a test start."""
    workers: list[import_worker.ImportWorker] = []
    original = import_worker.ImportWorker.__init__

    def spy(self: import_worker.ImportWorker, *args: Any) -> None:
        original(self, *args)
        workers.append(self)

    monkeypatch.setattr(import_worker.ImportWorker, "__init__", spy)
    return workers


def _exported(database: Path, out: Path) -> list[str]:
    recording = open_recording(str(database))
    try:
        texts = []
        for info in recording.sessions():
            path = out / f"{info.session_id}.jsonl"
            export_session(recording, info.session_id, "jsonl", str(path))
            texts.append(path.read_text())
        return texts
    finally:
        recording.close()


def _with_repeated_numbers(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("UPDATE operations SET sequence_number = sequence_number - 1 WHERE id % 97 = 0")
    conn.commit()
    conn.close()


def test_the_helper_process_gives_the_recording_of_one_process(
    tmp_path: Path, started: list[import_worker.ImportWorker]
) -> None:
    # Two interleaved sessions over several helper pages, with repeated sequence numbers,
    # and one of them over the operation limit.
    source = write_seed_v2(tmp_path / "v2.db", {"alpha": 2_600, "beta": 1_300}, interleave=True)
    _with_repeated_numbers(source)
    reports = {}
    for parallel in (False, True):
        database = tmp_path / f"ours-{parallel}.db"
        reports[parallel] = import_recording(
            str(source), str(database), max_ops=2_000, parallel=parallel
        )
        # The source's last spans never ended; the recording itself has no problem.
        problems = verify_recording(str(database)).problems
        assert {problem.check for problem in problems} == {"open-span"}
    assert len(started) == 1
    assert (reports[True].helper_process, reports[False].helper_process) == (True, False)
    reports[False].helper_process = True
    assert vars(reports[True]) == vars(reports[False])
    assert (reports[True].operations, reports[True].over_cap) == (2_000 + 1_300, 600)
    one, two = (tmp_path / "one", tmp_path / "two")
    one.mkdir()
    two.mkdir()
    assert _exported(tmp_path / "ours-True.db", two) == _exported(tmp_path / "ours-False.db", one)


def test_huge_objects_give_the_same_recording_through_the_helper(tmp_path: Path) -> None:
    # Pages over the helper's frame budget, and bodies it leaves to the importer to read.
    big, huge = 3 << 19, import_worker.INLINE_BODY_MAX + 1
    assert 24 * big > import_worker.FRAME_BODY_BYTES
    sizes = [big] * 24 + [huge, 10, huge, 20_000_000]
    rows = v2_rows("huge", len(sizes))
    rows = [
        (*row[:7], '{"data":"' + "x" * (size - 11) + '"}', *row[8:])
        for row, size in zip(rows, sizes, strict=True)
    ]
    source = tmp_path / "v2.db"
    write_seed_v2(source, {})
    conn = sqlite3.connect(source)
    conn.executemany(V2_INSERT, rows)
    conn.commit()
    conn.close()
    exported = []
    for parallel in (False, True):
        database = tmp_path / f"ours-{parallel}.db"
        report = import_recording(
            str(source), str(database), max_ops=100, max_object_bytes=8 << 20, parallel=parallel
        )
        assert (report.operations, report.oversize, report.helper_process) == (28, 1, parallel)
        out = tmp_path / f"out-{parallel}"
        out.mkdir()
        exported.append(_exported(database, out))
        recording = open_recording(str(database))
        op = recording.operation("huge", 25)
        assert op is not None and recording.body(op.response_ref) == rows[24][7].encode()
        recording.close()
    assert exported[0] == exported[1]


def test_a_page_of_large_bodies_is_cut_into_frames_under_the_limit() -> None:
    body = b"y" * import_worker.INLINE_BODY_MAX  # one object, shared by every operation
    count = MAX_FRAME // len(body) + 8  # together over what one frame may hold
    ops = [Operation("s", seq, 0, "get", kind="Pod", name="p", response_body=body)
           for seq in range(1, count + 1)]  # fmt: skip
    page = Converted(ops, [(3, {"error": "kept"}), (count, {"error": "last"})], [(count - 1, 99)])
    frames = list(import_worker._frames(page))
    assert len(frames) > 1
    seqs: list[int] = []
    origins: list[tuple[int, dict[str, str]]] = []
    held: list[tuple[int, int]] = []
    for kind, payload in frames:
        assert kind == import_worker.OPS
        assert len(payload) <= import_worker.FRAME_BODY_BYTES + (1 << 20)
        rows, frame_origins, frame_held = marshal.loads(payload)
        held += [(len(seqs) + index, row_id) for index, row_id in frame_held]
        seqs += [row[1] for row in rows]
        origins += frame_origins
    assert seqs == list(range(1, count + 1))
    assert origins == [(3, {"error": "kept"}), (count, {"error": "last"})]
    assert held == [(count - 1, 99)]


def test_small_files_are_read_in_this_process_unless_asked(
    tmp_path: Path, started: list[import_worker.ImportWorker]
) -> None:
    source = write_seed_v2(tmp_path / "v2.db", {"s": 50})
    import_recording(str(source), str(tmp_path / "auto.db"), max_ops=100)
    assert started == []  # under PARALLEL_MIN_ROWS
    import_recording(str(source), str(tmp_path / "forced.db"), max_ops=100, parallel=True)
    assert len(started) == 1
    assert started[0].worker.process.poll() is not None  # closed: nothing left running


def _corrupt_middle_pages(path: Path) -> None:
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    with open(path, "r+b") as handle:
        for page in range(pages // 2, pages // 2 + 3):
            handle.seek(page * page_size)
            handle.write(b"\xa5" * page_size)


@pytest.mark.parametrize("parallel", [False, True])
def test_a_source_corrupted_midway_is_a_one_line_error_either_way(
    tmp_path: Path, parallel: bool
) -> None:
    source = write_seed_v2(tmp_path / "v2.db", {"s": 3_000})
    _corrupt_middle_pages(source)
    with pytest.raises(NotARecordingError, match="corrupt or truncated") as raised:
        import_recording(str(source), str(tmp_path / "ours.db"), max_ops=10_000, parallel=parallel)
    assert "\n" not in str(raised.value)


def test_a_helper_killed_midway_is_a_kreplay_error_and_what_was_written_stays(
    tmp_path: Path, started: list[import_worker.ImportWorker]
) -> None:
    # More rows than the helper can read ahead of the first batch written (pipe + queue).
    count = 3 * importer.BATCH + 2 * import_worker.LOOKAHEAD * import_worker.PAGE_ROWS
    source = tmp_path / "v2.db"
    write_seed_v2(source, {})
    conn = sqlite3.connect(source)
    conn.executemany(V2_INSERT, v2_rows("big", count))
    conn.commit()
    conn.close()
    flushed: list[int] = []

    def kill_after_first_batch(done: int, total: int) -> None:
        if not flushed:
            os.kill(started[0].worker.process.pid, signal.SIGKILL)
        flushed.append(done)

    with pytest.raises(KreplayError, match="ended before it finished") as raised:
        import_recording(
            str(source), str(tmp_path / "ours.db"), max_ops=count,
            progress=kill_after_first_batch, parallel=True,
        )  # fmt: skip
    assert isinstance(raised.value, WorkerError)
    assert started[0].worker.process.poll() == -signal.SIGKILL
    recording = open_recording(str(tmp_path / "ours.db"))
    try:
        assert 0 < recording.session("big").op_count == flushed[-1] < count
    finally:
        recording.close()
