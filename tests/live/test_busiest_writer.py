"""The replayed actor by default: the one with the most writes, counted in SQLite for kreplay
files and op by op for other recordings, with the same answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from kreplay_dap.live import backend
from kreplay_dap.live.backend import busiest_writer
from recorder.errors import InvalidInputError
from recorder.storage import Operation, RecordingWriter, SessionInfo, open_recording
from recorder.storage.reader import KreplayRecording

# (actor, verb) in recording order: "b" writes most overall, "a" most in the first 6 ops.
PLAN = [
    ("a", "patch"), ("a", "update"), ("b", "get"), ("b", "create"), ("c", "watch"),
    ("a", "delete"), ("b", "patch"), ("b", "patch"), ("b", "update"), ("c", "list"),
]  # fmt: skip


def recording_file(tmp_path: Path, plan: list[tuple[str, str]], name: str = "r.db") -> Path:
    path = tmp_path / name
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("s", started_ns=1))
        writer.append(
            [Operation("s", 0, n, verb, kind="Pod", name="p", actor=actor)
             for n, (actor, verb) in enumerate(plan)]
        )  # fmt: skip
    return path


@pytest.mark.parametrize(("max_ops", "expected"), [(1000, "b"), (6, "a")])
def test_sql_counts_equal_op_by_op_counts(tmp_path: Path, max_ops: int, expected: str) -> None:
    recording = open_recording(str(recording_file(tmp_path, PLAN)), max_ops=max_ops)
    assert isinstance(recording, KreplayRecording)
    try:
        in_sql = recording.writes_by_actor("s")
        op_by_op = backend._writes_by_actor(recording, "s")
        chosen = busiest_writer(recording, "s")
    finally:
        recording.close()
    assert in_sql == op_by_op
    assert chosen == expected


def test_a_tie_goes_to_the_first_name_and_no_writes_is_an_error(tmp_path: Path) -> None:
    tie = [("zed", "patch"), ("amy", "patch"), ("amy", "get"), ("zed", "get")]
    recording = open_recording(str(recording_file(tmp_path, tie)))
    try:
        assert busiest_writer(recording, "s") == "amy"
    finally:
        recording.close()
    reads = recording_file(tmp_path, [("x", "get"), ("y", "watch")], name="reads.db")
    recording = open_recording(str(reads))
    try:
        with pytest.raises(InvalidInputError, match="no recorded writes"):
            busiest_writer(recording, "s")
    finally:
        recording.close()
