"""The replayed actor by default: the one with the most writes, counted in SQLite for kreplay
files and op by op for other recordings, with the same answer."""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.mark.parametrize(("from_step", "until_step"), [(0, None), (3, 9)])
def test_live_replay_reads_a_kreplay_session_once_and_expects_the_actors_calls(
    tmp_path: Path, from_step: int, until_step: int | None
) -> None:
    recording = open_recording(str(recording_file(tmp_path, PLAN)))
    assert isinstance(recording, KreplayRecording)
    passes: list[int] = []
    original = recording.operations

    def counted(
        session_id: str, start_seq: int | None = None, end_seq: int | None = None
    ) -> Iterator[Operation]:
        passes.append(1)
        return original(session_id, start_seq, end_seq)

    recording.operations = counted  # type: ignore[method-assign]
    try:
        live = backend.LiveBackend(recording, "s", from_step=from_step, until_step=until_step)
    finally:
        recording.close()
    assert passes == [1]  # the replay's setup pass; the actor was counted in SQL
    last = len(PLAN) if until_step is None else until_step
    calls = [(seq, verb) for seq, (actor, verb) in enumerate(PLAN, start=1)
             if from_step < seq <= last and actor == "b" and verb != "watch"]  # fmt: skip
    writes = [(seq, verb) for seq, verb in calls if verb != "get"]
    assert [(write.seq, write.verb) for write in live._matcher.remaining] == writes
    assert [(call[0], call[1]) for call in live._calls] == calls
