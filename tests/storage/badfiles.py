"""Broken inputs, each made from a real recording or file, with the message it must give."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from recorder.storage import Operation, RecordingWriter, SessionInfo
from tests.conftest import deployment


def real_recording(path: Path, ops: int = 3000) -> Path:
    """A recording big enough to span many pages: one session, many objects."""
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("s1", operator="widget-operator"))
        writer.begin_session(SessionInfo("s2"))
        batch = [
            Operation(
                "s1",
                0,
                1_000 + i,
                "update",
                kind="Deployment",
                namespace="prod",
                name=f"web-{i % 300}",
                response_body=deployment(f"web-{i % 300}", i, i % 7),
                actor="widget-controller",
            )
            for i in range(ops)
        ]
        writer.append(batch)
        writer.append([Operation("s2", 0, 5, "get", kind="Pod", name="p")])
    return path


def not_sqlite(tmp: Path) -> Path:
    path = tmp / "notes.db"
    path.write_text("these are my notes, not a database\n" * 10)
    return path


def empty(tmp: Path) -> Path:
    path = tmp / "empty.db"
    path.write_bytes(b"")
    return path


def truncated(tmp: Path) -> Path:
    path = real_recording(tmp / "whole.db")
    data = path.read_bytes()
    cut = tmp / "truncated.db"
    cut.write_bytes(data[: len(data) // 2])
    return cut


def corrupt_pages(tmp: Path) -> Path:
    path = real_recording(tmp / "corrupt.db")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle - 40_000 : middle + 40_000] = b"\xa5" * 80_000
    path.write_bytes(bytes(data))
    return path


def corrupt_schema_pages(tmp: Path) -> Path:
    """Bytes overwritten on the first pages after the header: nothing is readable."""
    path = real_recording(tmp / "corrupt-schema.db")
    data = bytearray(path.read_bytes())
    data[100:20_000] = b"\x5a" * (20_000 - 100)
    path.write_bytes(bytes(data))
    return path


def foreign_sqlite(tmp: Path) -> Path:
    path = tmp / "other-app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('ada')")
    conn.commit()
    conn.close()
    return path


def directory(tmp: Path) -> Path:
    path = tmp / "a-directory.db"
    path.mkdir()
    return path


def missing(tmp: Path) -> Path:
    return tmp / "no-such-file.db"


# (maker, regular expression the one-line message must match)
CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "not-sqlite": (not_sqlite, r"not a SQLite database"),
    "empty": (empty, r"empty \(expected a kreplay or replay-cli recording\)"),
    "truncated": (truncated, r"truncated \(\d+ of \d+ bytes"),
    "corrupt-schema": (corrupt_schema_pages, r"corrupt"),
    "foreign-sqlite": (foreign_sqlite, r"SQLite file without recording tables"),
    "directory": (directory, r"is a directory, not a recording file"),
    "missing": (missing, r"no such recording file"),
}
