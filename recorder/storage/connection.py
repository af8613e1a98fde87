"""Opening SQLite files: writable for recording, strictly read-only for replay."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from types import NoneType
from typing import Any

from recorder.errors import (
    NotARecordingError,
    ReadOnlyRecordingError,
    RecordingError,
)
from recorder.storage.schema import refuse_foreign, refuse_newer_for_writing

_SQLITE_MAGIC = b"SQLite format 3\x00"
_WAL_FORMAT = 2  # header byte 18: file format write version, 2 = WAL
BUSY_TIMEOUT_MS = 10_000
PAGE_SIZE = 8192
WRITER_CACHE_KIB = 32 << 10  # object runs are written all over their table: keep it cached
WAL_CHECKPOINT_PAGES = 4096  # 32 MiB of log between checkpoints
READER_CACHE_KIB = 16 << 10
READER_MMAP_BYTES = 1 << 30  # address space only; random reads skip the page copy
WAL_SWITCH_ATTEMPTS = 500  # with backoff up to 50 ms: longer than BUSY_TIMEOUT_MS
_BUSY_CODES = {"SQLITE_BUSY", "SQLITE_LOCKED"}
MAX_LISTED_SESSIONS = 10_000_000


def keyset_rows(
    conn: sqlite3.Connection,
    sql: str,
    params: tuple[Any, ...],
    start: int | None,
    max_rows: int,
    size: int,
) -> Iterator[tuple[Any, ...]]:
    """Rows of ``sql`` page by page, from ``start`` (None: the first) to about ``max_rows``:
    its last parameter is the least value of its first column, it orders by that column
    and takes ``size`` rows."""
    low = -(1 << 62) if start is None else start
    for _ in range(max_rows // size + 2):
        rows = conn.execute(sql, (*params, low)).fetchall()
        yield from rows
        if len(rows) < size:
            return
        low = int(rows[-1][0]) + 1


def bind_without_adapting() -> None:
    """Bind ``bytes`` and ``None`` parameters without sqlite3's adaptation protocol.

    CPython's sqlite3 binds int, float and str directly, but looks up ``__adapt__`` and
    ``__conform__`` for every ``bytes`` and ``None`` parameter (an AttributeError formatted
    and dropped each time): about a fifth of a microsecond per parameter, and a written
    operation binds several. An adapter registered for the exact type is found first. These
    return their argument unchanged, and a process's own adapters for the types are kept.
    """
    protocol = sqlite3.PrepareProtocol
    sqlite3.adapters.setdefault((bytes, protocol), bytes)  # bytes(b) is b for exact bytes
    sqlite3.adapters.setdefault((NoneType, protocol), {}.get)  # returns None


def check_before_writing(path: str) -> list[str]:
    """Read-only checks of an existing file, before a writer changes anything in it.

    Opening for writing switches the file to WAL (header bytes 18-19) and migrating it adds
    tables: a file a writer must refuse (not SQLite, truncated, another application's or
    the Go tool's, a newer format, unreadable) is refused here, unchanged. Returns the
    sessions already in the file. A missing or empty file, ``:memory:`` and a directory
    (refused when opened) pass.
    """
    if path == ":memory:" or not os.path.isfile(path) or os.path.getsize(path) == 0:
        return []
    conn = open_read_only(path, memory_map=False)
    try:
        refuse_foreign(conn, path)
        refuse_newer_for_writing(conn, path)
        tables = {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master")}
        if "sessions" not in tables:
            return []
        rows = conn.execute(f"SELECT session_id FROM sessions LIMIT {MAX_LISTED_SESSIONS}")
        return [str(row[0]) for row in rows.fetchall()]
    except sqlite3.DatabaseError as error:
        raise NotARecordingError(f"{path}: corrupt or truncated recording ({error})") from error
    finally:
        conn.close()


def open_writable(path: str) -> sqlite3.Connection:
    """A connection for the writer: WAL so readers and other writers' processes coexist.

    The file is checked read-only first (``check_before_writing``): a refused file is left
    as it was, byte for byte and in its modification time.
    """
    check_before_writing(path)
    bind_without_adapting()
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    except sqlite3.Error as error:  # a missing folder, a directory, no permission
        folder = os.path.dirname(os.path.abspath(path))
        why = str(error) if os.path.isdir(folder) else f"no such folder; {error}"
        raise RecordingError(f"{path}: cannot open for writing ({why})") from error
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        refuse_foreign(conn, path)  # before any pragma below changes the file
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # only takes effect on a new file
        conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
        _enter_wal(conn)
        # Fewer, larger checkpoints: run pages rewritten by many batches are copied once.
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        # NORMAL in WAL mode: a power loss may lose the last commits, never corrupt the file.
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as error:
        conn.close()
        raise NotARecordingError(f"{path}: not a usable SQLite database ({error})") from error
    except NotARecordingError:
        conn.close()
        raise
    return conn


def _enter_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL, retrying while another process creates or converts the same file.

    Changing the journal mode needs an exclusive lock, and SQLite may answer SQLITE_BUSY at
    once instead of calling the busy handler (to avoid a deadlock between two converters).
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.001
    for _ in range(WAL_SWITCH_ATTEMPTS - 1):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            busy = getattr(error, "sqlite_errorname", "") in _BUSY_CODES
            if not busy or time.monotonic() > deadline:
                raise
        time.sleep(delay)  # another writer holds the lock for a moment: back off
        delay = min(delay * 2, 0.05)
    conn.execute("PRAGMA journal_mode = WAL")  # the last attempt: its error goes to the caller


# SQLite result codes that mean "this file cannot be used", not "this query is wrong".
_CORRUPT_CODES = {"SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_IOERR", "SQLITE_FORMAT"}
_READ_ONLY_CODES = {"SQLITE_READONLY"}
_UNAVAILABLE_CODES = {"SQLITE_CANTOPEN", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_NOMEM"}


def recording_error(path: str, error: sqlite3.DatabaseError) -> Exception:
    """The kreplay error for a SQLite failure while reading; programming errors unchanged."""
    code = str(getattr(error, "sqlite_errorname", ""))
    primary = "_".join(code.split("_")[:2])  # SQLITE_IOERR_SHORT_READ -> SQLITE_IOERR
    if primary in _CORRUPT_CODES or type(error) is sqlite3.DatabaseError:
        return NotARecordingError(f"{path}: corrupt or truncated recording ({error})")
    if "malformed JSON" in str(error):  # a damaged run of sequence numbers (runs.py)
        return NotARecordingError(f"{path}: corrupt recording ({error})")
    if primary in _READ_ONLY_CODES:
        return ReadOnlyRecordingError(f"{path}: opened read-only; recordings are never changed")
    if primary in _UNAVAILABLE_CODES:
        return RecordingError(f"{path}: cannot read the recording ({error})")
    return error


class GuardedCursor(sqlite3.Cursor):
    """Turns corruption found while stepping through rows into one-line kreplay errors."""

    def _path(self) -> str:
        return str(getattr(self.connection, "recording_path", "recording"))

    def execute(self, sql: str, parameters: Any = (), /) -> GuardedCursor:
        try:
            super().execute(sql, parameters)
        except sqlite3.DatabaseError as error:
            raise recording_error(self._path(), error) from error
        return self

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> GuardedCursor:
        try:
            super().executemany(sql, seq_of_parameters)
        except sqlite3.DatabaseError as error:
            raise recording_error(self._path(), error) from error
        return self

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.DatabaseError as error:
            raise recording_error(self._path(), error) from error

    def fetchmany(self, size: int | None = 1) -> list[Any]:
        try:
            return super().fetchmany(self.arraysize if size is None else size)
        except sqlite3.DatabaseError as error:
            raise recording_error(self._path(), error) from error

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.DatabaseError as error:
            raise recording_error(self._path(), error) from error

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.DatabaseError as error:
            raise recording_error(self._path(), error) from error


class GuardedConnection(sqlite3.Connection):
    """A ``sqlite3.Connection`` (so SQL users keep working) whose cursors are guarded."""

    recording_path = "recording"

    def cursor(self, factory: Any = GuardedCursor) -> Any:
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:
        return self.cursor().executemany(sql, parameters)


def open_read_only(path: str, *, memory_map: bool = True) -> sqlite3.Connection:
    """A read-only connection; refuses files that are missing or not SQLite, with one line.

    A WAL-mode file whose ``-wal`` is absent has no writer: it is opened ``immutable`` so
    SQLite creates no ``-wal``/``-shm`` files next to it. With a ``-wal`` present (a live or
    crashed writer), the normal read-only mode reads the log too. ``memory_map=False`` is for
    one long pass: through SQLite's memory map, every page it touches would count in the
    process' resident memory, and its own small page cache reads as fast.
    """
    header = _check_sqlite_file(path)
    uri = "file:" + _uri_path(path) + "?mode=ro"
    if not os.path.exists(path + "-wal"):  # with a log, the file may lag its header
        _check_length(path, header)
        if header[18] == _WAL_FORMAT:
            uri += "&immutable=1"
    conn = sqlite3.connect(
        uri, uri=True, isolation_level=None, check_same_thread=False, factory=GuardedConnection
    )
    conn.recording_path = path
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA query_only = ON")
        conn.execute(f"PRAGMA cache_size = -{READER_CACHE_KIB}")
        conn.execute(f"PRAGMA mmap_size = {READER_MMAP_BYTES if memory_map else 0}")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except (sqlite3.DatabaseError, RecordingError) as error:
        conn.close()
        raise NotARecordingError(f"{path}: corrupt or unreadable SQLite file ({error})") from error
    return conn


def _check_length(path: str, header: bytes) -> None:
    """A file shorter than the page count its header states was truncated (copy cut short)."""
    if header[24:28] != header[92:96]:  # the header's page count is stale: cannot tell
        return
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    actual = os.path.getsize(path)
    if actual < pages * page_size:
        raise NotARecordingError(
            f"{path}: truncated ({actual} of {pages * page_size} bytes; the copy was cut short)"
        )


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
