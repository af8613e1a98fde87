"""Bounds: operations per session and bytes per object are counted events, never crashes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recorder.errors import LimitExceededError
from recorder.storage import Operation, RecordingWriter, SessionInfo, open_recording
from recorder.storage.reader import KreplayRecording
from recorder.storage.writer import DEFAULT_MAX_OBJECT_BYTES, DEFAULT_MAX_OPS
from tests.storage.seedfiles import write_seed_v2


def ops(count: int, body: bytes | None = None) -> list[Operation]:
    return [
        Operation("s1", 0, i, "get", kind="Pod", name=f"p{i % 3}", response_body=body)
        for i in range(count)
    ]


def test_defaults_are_those_of_the_original_tool() -> None:
    assert DEFAULT_MAX_OPS == 1_000_000
    assert DEFAULT_MAX_OBJECT_BYTES == 1 << 20


def test_operations_over_the_session_limit_are_counted_not_written(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    with RecordingWriter(str(path), max_ops=25) as writer:
        writer.begin_session(SessionInfo("s1"))
        first = writer.append(ops(20))
        second = writer.append(ops(20))
        third = writer.append(ops(3))
    assert (first.written, first.over_cap) == (20, 0)
    assert (second.written, second.over_cap, second.last_seq) == (5, 15, 25)
    assert (third.written, third.over_cap) == (0, 3)
    info = open_recording(str(path)).session("s1")
    assert (info.op_count, info.last_seq, info.truncated) == (25, 25, True)


def test_an_object_over_the_size_limit_is_replaced_by_a_counted_marker(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    huge = json.dumps({"data": "x" * DEFAULT_MAX_OBJECT_BYTES}).encode()
    fits = json.dumps({"data": "y" * (DEFAULT_MAX_OBJECT_BYTES - 20)}).encode()
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("s1"))
        result = writer.append([*ops(1, huge), *ops(1, fits)])
    assert (result.written, result.oversize) == (2, 1)
    recording = open_recording(str(path))
    assert recording.session("s1").oversize_ops == 1
    marker, kept = list(recording.operations("s1"))
    assert recording.body_json(marker.response_ref) == {"kreplay": "oversize", "bytes": len(huge)}
    assert recording.body(kept.response_ref) == fits


def test_a_configured_size_limit_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    with RecordingWriter(str(path), max_object_bytes=100) as writer:
        writer.begin_session(SessionInfo("s1"))
        result = writer.append(ops(4, b'{"a":"' + b"z" * 200 + b'"}'))
    assert result.oversize == 4
    assert open_recording(str(path)).session("s1").oversize_ops == 4


def _session_of(path: Path, count: int) -> Path:
    """A file with one session "s1" of ``count`` operations."""
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("s1"))
        writer.append(ops(count))
    return path


def test_readers_stop_at_their_limit_and_report_it(tmp_path: Path) -> None:
    path = _session_of(tmp_path / "r.db", 30)
    recording = open_recording(str(path), max_ops=10)
    assert len(list(recording.operations("s1"))) == 10
    assert recording.limit_events == ["session 's1': stopped reading at the 10-operation limit"]


def test_a_bound_event_from_another_reading_process_is_listed_once(tmp_path: Path) -> None:
    path = _session_of(tmp_path / "r.db", 30)
    recording = open_recording(str(path), max_ops=10)
    assert isinstance(recording, KreplayRecording)
    list(recording.operations("s1"))
    recording.note_limit("session 's1': stopped reading at the 10-operation limit")
    recording.note_limit("the helper's own limit")
    recording.note_limit("the helper's own limit")
    assert recording.limit_events == [
        "session 's1': stopped reading at the 10-operation limit",
        "the helper's own limit",
    ]


@pytest.mark.parametrize("memory_map", [True, False])
def test_a_reader_for_one_long_pass_can_leave_the_memory_map_off(
    tmp_path: Path, memory_map: bool
) -> None:
    path = _session_of(tmp_path / "r.db", 5)
    recording = open_recording(str(path), memory_map=memory_map)
    assert isinstance(recording, KreplayRecording)
    size = recording.connection.execute("PRAGMA mmap_size").fetchone()[0]
    assert (size > 0) is memory_map
    assert [op.seq for op in recording.operations("s1")] == [1, 2, 3, 4, 5]


def test_seed_reader_flags_sessions_cut_by_the_limit(tmp_path: Path) -> None:
    path = write_seed_v2(tmp_path / "v2.db", {"a": 40, "b": 5})
    recording = open_recording(str(path), max_ops=10)
    by_id = {info.session_id: info for info in recording.sessions()}
    assert (by_id["a"].op_count, by_id["a"].truncated) == (10, True)
    assert (by_id["b"].op_count, by_id["b"].truncated) == (5, False)
    assert len(list(recording.operations("a"))) == 10
    assert recording.limit_events == ["session 'a': stopped reading at the 10-operation limit"]


@pytest.mark.parametrize("bad", [{"max_ops": 0}, {"max_object_bytes": -1}])
def test_invalid_limits_are_refused(tmp_path: Path, bad: dict[str, int]) -> None:
    with pytest.raises(LimitExceededError, match="must be positive"):
        RecordingWriter(str(tmp_path / "r.db"), **bad)


@pytest.mark.parametrize("flavor", ["kreplay", "seed-v2"])
def test_readers_name_the_last_operation_under_the_limit_and_report_it(
    tmp_path: Path, flavor: str
) -> None:
    if flavor == "kreplay":
        path = _session_of(tmp_path / "r.db", 30)
        session = "s1"
    else:
        path = write_seed_v2(tmp_path / "v2.db", {"a": 30})
        session = "a"
    recording = open_recording(str(path), max_ops=10)
    try:
        first = recording.session(session).first_seq
        assert first is not None
        assert recording.limit_seq(session) == first + 9
        assert recording.limit_events == [
            f"session '{session}': stopped reading at the 10-operation limit"
        ]
    finally:
        recording.close()
    whole = open_recording(str(path), max_ops=30)  # exactly at the limit: nothing cut
    try:
        assert whole.limit_seq(session) is None
        assert not whole.session(session).truncated  # the Go reader said so at exactly 30
        assert whole.limit_events == []
    finally:
        whole.close()


def test_a_session_over_the_limit_is_reported_by_its_summary_alone(tmp_path: Path) -> None:
    """``kreplay sessions`` reads no operation: the summary says the limit will cut it."""
    path = _session_of(tmp_path / "r.db", 30)
    recording = open_recording(str(path), max_ops=10)
    try:
        assert recording.session("s1").op_count == 30
        assert recording.limit_events == ["session 's1': stopped reading at the 10-operation limit"]
    finally:
        recording.close()
