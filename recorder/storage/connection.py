"""Opening SQLite files: writable for recording, strictly read-only for replay."""

from __future__ import annotations

import os
import sqlite3

from recorder.errors import NotARecordingError

_SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 10_000


def open_writable(path: str) -> sqlite3.Connection:
    """A connection for the writer: WAL so readers and other writers' processes coexist."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode: a power loss may lose the last commits, never corrupt the file.
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as error:
        conn.close()
        raise NotARecordingError(f"{path}: not a usable SQLite database ({error})") from error
    return conn


def open_read_only(path: str) -> sqlite3.Connection:
    """A read-only connection; refuses files that are missing or not SQLite, with one line."""
    _check_sqlite_file(path)
    uri = "file:" + _uri_path(path) + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as error:
        raise NotARecordingError(f"{path}: corrupt or unreadable SQLite file ({error})") from error
    return conn


def _check_sqlite_file(path: str) -> None:
    if not os.path.exists(path):
        raise NotARecordingError(f"{path}: no such recording file")
    if os.path.isdir(path):
        raise NotARecordingError(f"{path}: is a directory, not a recording file")
    try:
        with open(path, "rb") as handle:
            header = handle.read(100)
    except OSError as error:
        raise NotARecordingError(f"{path}: cannot read ({error.strerror})") from error
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        kind = "empty" if not header else "not a SQLite database"
        raise NotARecordingError(f"{path}: {kind} (expected a kreplay or replay-cli recording)")


def _uri_path(path: str) -> str:
    absolute = os.path.abspath(path)
    return absolute.replace("%", "%25").replace("?", "%3f").replace("#", "%23")
