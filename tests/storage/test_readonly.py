"""Readers open files read-only and never change a recording, whatever its flavour."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from recorder.errors import ReadOnlyRecordingError
from recorder.storage import Operation, RecordingWriter, SessionInfo, open_recording
from tests.storage.badfiles import real_recording
from tests.storage.seedfiles import write_seed_v1, write_seed_v2


def fingerprint(directory: Path) -> dict[str, tuple[str, int]]:
    """Every file in the directory: content hash and mtime."""
    return {
        entry.name: (hashlib.sha256(entry.read_bytes()).hexdigest(), entry.stat().st_mtime_ns)
        for entry in sorted(directory.iterdir())
    }


def read_everything(path: Path) -> int:
    recording = open_recording(str(path))
    seen = 0
    for info in recording.sessions():
        for op in recording.operations(info.session_id):
            recording.body_json(op.response_ref)
            recording.object_neighbor(info.session_id, op.seq, forward=True)
            seen += 1
        list(recording.spans(info.session_id))
    recording.close()
    return seen


MAKERS = {
    "kreplay": lambda d: real_recording(d / "r.db", ops=500),
    "seed-v1": lambda d: write_seed_v1(d / "v1.db", {"a": 50, "b": 20}),
    "seed-v2": lambda d: write_seed_v2(d / "v2.db", {"a": 50, "b": 20}),
}


@pytest.mark.parametrize("flavor", sorted(MAKERS))
def test_reading_changes_no_byte_and_no_mtime_and_adds_no_file(tmp_path: Path, flavor: str) -> None:
    path = MAKERS[flavor](tmp_path)
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    before = fingerprint(tmp_path)
    assert read_everything(path) > 0
    assert fingerprint(tmp_path) == before
    assert open_recording(str(path)).flavor == flavor


@pytest.mark.parametrize("flavor", sorted(MAKERS))
def test_a_write_through_the_readers_connection_fails(tmp_path: Path, flavor: str) -> None:
    path = MAKERS[flavor](tmp_path)
    before = fingerprint(tmp_path)
    recording = open_recording(str(path))
    table = "ops" if flavor == "kreplay" else "operations"
    with pytest.raises(ReadOnlyRecordingError, match="opened read-only"):
        recording.connection.execute(f"DELETE FROM {table}")  # type: ignore[attr-defined]
    with pytest.raises(ReadOnlyRecordingError):
        recording.connection.execute("CREATE TABLE sneaky (x)")  # type: ignore[attr-defined]
    recording.close()
    assert fingerprint(tmp_path) == before


def test_a_live_recording_can_be_read_while_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    writer = RecordingWriter(str(path))
    writer.begin_session(SessionInfo("s1"))
    writer.append([Operation("s1", 0, 1, "get", kind="Pod", name="a", response_body=b"{}")])
    recording = open_recording(str(path))
    assert recording.session("s1").op_count == 1
    writer.append([Operation("s1", 0, 2, "get", kind="Pod", name="a", response_body=b"[]")])
    assert recording.session("s1").op_count == 2
    recording.close()
    writer.close()
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["live.db"]
