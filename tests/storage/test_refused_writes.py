"""A writer refuses a file before changing anything in it; a failed import leaves no new file.

Opening a file for writing switches it to WAL (header bytes 18-19) and migrating it adds
tables, so every reason to refuse a file is checked read-only first. Each refused file here
keeps its bytes, its modification time (set to a fixed past time first: no clock involved)
and gets no -wal/-shm/-journal file beside it.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from recorder.errors import InvalidInputError, KreplayError, NewerSchemaError, NotARecordingError
from recorder.storage import RecordingWriter, open_recording
from recorder.storage.exporter import export_session
from recorder.storage.importer import import_recording
from tests.storage.badfiles import real_recording, truncated
from tests.storage.seedfiles import write_seed_v2

PAST_NS = 1_000_000_000_000_000_000  # 2001-09-09


def snapshot(path: Path) -> tuple[bytes, int, list[str]]:
    """Content, mtime and the files beside it (journals a write would leave)."""
    beside = sorted(entry.name for entry in path.parent.iterdir() if entry.name != path.name)
    return path.read_bytes(), path.stat().st_mtime_ns, beside


def aged(path: Path) -> Path:
    os.utime(path, ns=(PAST_NS, PAST_NS))
    return path


def newer_format(directory: Path) -> Path:
    path = real_recording(directory / "newer.db", ops=20)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO schema_migrations VALUES (99, 'from the future', 0)")
    conn.close()
    return path


def go_tool_file(directory: Path) -> Path:
    return write_seed_v2(directory / "go.db", {"g": 3})


def cut_short(directory: Path) -> Path:
    return truncated(directory)


def _only(path: Path) -> Path:
    """Keep ``path`` alone in a folder of its own, so ``snapshot`` sees only its journals."""
    alone = path.parent / "alone"
    alone.mkdir()
    return path.rename(alone / path.name)


REFUSED: dict[str, tuple[Callable[[Path], Path], type[KreplayError], str]] = {
    "newer format": (newer_format, NewerSchemaError, r"version 99 is newer .*write to it"),
    "Go-tool file": (go_tool_file, NotARecordingError, r"not a kreplay recording"),
    "truncated": (cut_short, NotARecordingError, r"truncated"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_writer_refuses_a_file_before_changing_anything_in_it(tmp_path: Path, case: str) -> None:
    make, error, message = REFUSED[case]
    path = aged(_only(make(tmp_path)))
    header = path.read_bytes()[18:20]
    before = snapshot(path)
    with pytest.raises(error, match=message):
        RecordingWriter(str(path))
    assert snapshot(path) == before
    assert path.read_bytes()[18:20] == header  # not switched to WAL


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_an_import_into_a_refused_file_changes_nothing(tmp_path: Path, case: str) -> None:
    make, error, message = REFUSED[case]
    path = aged(_only(make(tmp_path)))
    source = write_seed_v2(tmp_path / "source.db", {"new": 4})
    before = snapshot(path)
    with pytest.raises(error, match=message):
        import_recording(str(source), str(path), max_ops=100)
    assert snapshot(path) == before


def test_an_import_of_a_session_already_in_the_file_changes_nothing(tmp_path: Path) -> None:
    target = aged(_only(real_recording(tmp_path / "ours.db", ops=30)))
    recording = open_recording(str(target))
    try:
        export_session(recording, "s1", "jsonl", str(tmp_path / "s1.jsonl"))
    finally:
        recording.close()
    aged(target)  # reading changed nothing either, but keep the check independent of it
    before = snapshot(target)
    with pytest.raises(InvalidInputError, match=r"session 's1' already exists in .*ours.db"):
        import_recording(str(tmp_path / "s1.jsonl"), str(target), max_ops=100)
    assert snapshot(target) == before


def test_a_jsonl_file_naming_one_session_twice_is_refused_before_writing(tmp_path: Path) -> None:
    header = '{"kreplay": "session", "version": 1, "session_id": "twice"}'
    op = '{"op": 1, "ts_ns": 1, "verb": "get"}'
    source = tmp_path / "twice.jsonl"
    source.write_text(f"{header}\n{op}\n{header}\n{op}\n")
    with pytest.raises(InvalidInputError, match=r"line 3: session 'twice' again"):
        import_recording(str(source), str(tmp_path / "ours.db"), max_ops=100)
    assert not (tmp_path / "ours.db").exists()


SOURCES = {
    "garbage": b"\xd1\x00\xff binary garbage\n" * 50,
    "not JSON": b"not json\n",
    "no header first": b'{"op": 1, "ts_ns": 1, "verb": "get"}\n',
    "bad line after the header": (
        b'{"kreplay": "session", "version": 1, "session_id": "s"}\n{"op": "one"}\n'
    ),
}


@pytest.mark.parametrize("case", sorted(SOURCES))
def test_a_failed_import_leaves_no_new_recording(tmp_path: Path, case: str) -> None:
    source = tmp_path / "source.jsonl"
    source.write_bytes(SOURCES[case])
    with pytest.raises(InvalidInputError):
        import_recording(str(source), str(tmp_path / "new.db"), max_ops=100)
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["source.jsonl"]


def test_a_failed_import_never_removes_a_file_that_was_there(tmp_path: Path) -> None:
    target = real_recording(tmp_path / "ours.db", ops=5)
    source = tmp_path / "source.jsonl"
    source.write_bytes(SOURCES["bad line after the header"])
    with pytest.raises(InvalidInputError):
        import_recording(str(source), str(target), max_ops=100)
    recording = open_recording(str(target))
    try:
        assert recording.session("s1").op_count == 5
    finally:
        recording.close()
