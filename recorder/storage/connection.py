"""Opening SQLite files: writable for recording, strictly read-only for replay."""

from __future__ import annotations

import os
import sqlite3

from recorder.errors import NotARecordingError

_SQLITE_MAGIC = b"SQLite format 3\x00"
_WAL_FORMAT = 2  # header byte 18: file format write version, 2 = WAL
BUSY_TIMEOUT_MS = 10_000
PAGE_SIZE = 8192
WRITER_CACHE_KIB = 32 << 10  # the blob digest index is hit at random: keep it cached
READER_CACHE_KIB = 16 << 10
READER_MMAP_BYTES = 1 << 30  # address space only; random reads skip the page copy


def open_writable(path: str) -> sqlite3.Connection:
    """A connection for the writer: WAL so readers and other writers' processes coexist."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # only takes effect on a new file
        conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode: a power loss may lose the last commits, never corrupt the file.
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as error:
        conn.close()
        raise NotARecordingError(f"{path}: not a usable SQLite database ({error})") from error
    return conn


def open_read_only(path: str) -> sqlite3.Connection:
    """A read-only connection; refuses files that are missing or not SQLite, with one line.

    A WAL-mode file whose ``-wal`` is absent has no writer: it is opened ``immutable`` so
    SQLite creates no ``-wal``/``-shm`` files next to it. With a ``-wal`` present (a live or
    crashed writer), the normal read-only mode reads the log too.
    """
    header = _check_sqlite_file(path)
    uri = "file:" + _uri_path(path) + "?mode=ro"
    if header[18] == _WAL_FORMAT and not os.path.exists(path + "-wal"):
        uri += "&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA query_only = ON")
        conn.execute(f"PRAGMA cache_size = -{READER_CACHE_KIB}")
        conn.execute(f"PRAGMA mmap_size = {READER_MMAP_BYTES}")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as error:
        raise NotARecordingError(f"{path}: corrupt or unreadable SQLite file ({error})") from error
    return conn


def _check_sqlite_file(path: str) -> bytes:
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
    return header


def _uri_path(path: str) -> str:
    absolute = os.path.abspath(path)
    return absolute.replace("%", "%25").replace("?", "%3f").replace("#", "%23")
