"""Ordered, recorded migrations; older files upgrade; newer files are refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from recorder.errors import NewerSchemaError
from recorder.storage import Operation, RecordingWriter, SessionInfo, open_recording
from recorder.storage.schema import MIGRATIONS, SCHEMA_VERSION, migrate, recorded_version
from tests.storage.downgrade import downgrade


def recorded(path: Path) -> list[tuple[int, str, int]]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT version, name, applied_ns FROM schema_migrations ORDER BY rowid")
    result = [(int(v), str(n), int(a)) for v, n, a in rows.fetchall()]
    conn.close()
    return result


def schema_snapshot(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    rows = conn.execute("SELECT name, COALESCE(sql, '') FROM sqlite_master ORDER BY name")
    return [(str(name), str(sql)) for name, sql in rows.fetchall()]


def new_file(path: Path) -> Path:
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("s1"))
        writer.append([Operation("s1", 0, 1, "get", kind="Pod", name="p", response_body=b"{}")])
    return path


def test_migrations_are_ordered_and_each_is_recorded_once(tmp_path: Path) -> None:
    versions = [migration.version for migration in MIGRATIONS]
    assert versions == list(range(1, len(versions) + 1))
    assert versions[-1] == SCHEMA_VERSION
    rows = recorded(new_file(tmp_path / "r.db"))
    assert [(version, name) for version, name, _ in rows] == [
        (migration.version, migration.name) for migration in MIGRATIONS
    ]
    applied = [applied_ns for _, _, applied_ns in rows]
    assert applied == sorted(applied)


def test_running_the_migrations_again_changes_nothing(tmp_path: Path) -> None:
    path = new_file(tmp_path / "r.db")
    before = recorded(path)
    conn = sqlite3.connect(path, isolation_level=None)
    schema = schema_snapshot(conn)
    assert migrate(conn, str(path)) == SCHEMA_VERSION
    assert migrate(conn, str(path)) == SCHEMA_VERSION
    assert schema_snapshot(conn) == schema
    conn.close()
    RecordingWriter(str(path)).close()
    assert recorded(path) == before


def downgrade_to_previous_version(path: Path) -> None:
    """Make the file exactly what version N-1 wrote: the last migration undone."""
    downgrade(path, SCHEMA_VERSION - 1)


def blob_table(path: Path) -> tuple[list[tuple[object, ...]], list[str]]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT * FROM blobs ORDER BY id").fetchall()
    indexes = conn.execute("SELECT name FROM pragma_index_list('blobs')").fetchall()
    conn.close()
    return rows, [str(name) for (name,) in indexes]


def test_the_v5_upgrade_keeps_every_body_and_drops_the_digest_index(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    bodies = [b'{"kind":"Pod","n":%d,"pad":"%s"}' % (n, b"x" * 90) for n in range(5)]
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("s1"))
        ops = [
            Operation("s1", 0, n, "get", name=f"p{n}", response_body=b)
            for n, b in enumerate(bodies)
        ]
        writer.append(ops)
    downgrade(path, 4)
    before, indexes = blob_table(path)
    assert len(before) == 5 and indexes  # version 4: a unique index on the digest
    with RecordingWriter(str(path)) as writer:  # upgrades, then dedups against the old rows
        writer.append([Operation("s1", 0, 9, "get", name="q", response_body=bodies[2])])
    after, indexes = blob_table(path)
    assert after == before and indexes == []
    recording = open_recording(str(path))
    op = recording.operation("s1", 6)
    assert op is not None and recording.body(op.response_ref) == bodies[2]


def test_a_file_of_the_previous_version_is_read_as_is_and_upgraded_by_a_writer(
    tmp_path: Path,
) -> None:
    path = new_file(tmp_path / "r.db")
    downgrade_to_previous_version(path)
    recording = open_recording(str(path))
    assert recording.session("s1").op_count == 1
    assert list(recording.origins("s1", "op")) == []  # type: ignore[attr-defined]
    recording.close()
    assert recorded(path)[-1][0] == SCHEMA_VERSION - 1  # reading did not upgrade it
    with RecordingWriter(str(path)) as writer:
        writer.append([Operation("s1", 0, 2, "get", kind="Pod", name="p", response_body=b"{}")])
        writer.put_origins("s1", "op", [(2, {"id": 9})])
    assert [version for version, _, _ in recorded(path)] == [m.version for m in MIGRATIONS]
    recording = open_recording(str(path))
    assert recording.session("s1").op_count == 2
    assert list(recording.origins("s1", "op")) == [(2, {"id": 9})]  # type: ignore[attr-defined]


def make_newer(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO schema_migrations VALUES (?, 'from the future', 0)", (99,))
    conn.close()


def test_a_newer_file_is_refused_for_reading(tmp_path: Path) -> None:
    path = new_file(tmp_path / "r.db")
    make_newer(path)
    with pytest.raises(NewerSchemaError) as caught:
        open_recording(str(path))
    message = str(caught.value)
    assert f"version 99 is newer than this kreplay supports ({SCHEMA_VERSION})" in message
    assert "upgrade kreplay to read it" in message and "\n" not in message


def test_a_newer_file_is_refused_for_writing_and_left_alone(tmp_path: Path) -> None:
    path = new_file(tmp_path / "r.db")
    make_newer(path)
    before = recorded(path)
    with pytest.raises(NewerSchemaError, match="upgrade kreplay to write to it"):
        RecordingWriter(str(path))
    assert recorded(path) == before


def test_a_fresh_sqlite_file_is_version_zero(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "empty.db")
    assert recorded_version(conn) == 0
    conn.close()
