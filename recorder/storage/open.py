"""``open_recording``: detect the flavour of a file and open it read-only."""

from __future__ import annotations

import sqlite3

from recorder.errors import NotARecordingError
from recorder.storage.api import Recording
from recorder.storage.connection import open_read_only
from recorder.storage.legacy import SeedRecording
from recorder.storage.reader import KreplayRecording
from recorder.storage.schema import check_readable
from recorder.storage.writer import DEFAULT_MAX_OPS

_REQUIRED_SEED_COLUMNS = {"session_id", "sequence_number", "timestamp", "operation_type"}


def open_recording(
    path: str, *, max_ops: int = DEFAULT_MAX_OPS, memory_map: bool = True
) -> Recording:
    """Open a kreplay or Go-tool recording read-only; one-line errors for anything else.

    ``memory_map=False``: no SQLite memory map, for one long pass (see ``open_read_only``).
    """
    conn = open_read_only(path, memory_map=memory_map)
    try:
        return _detect(conn, path, max_ops)
    except sqlite3.DatabaseError as error:
        conn.close()
        raise NotARecordingError(f"{path}: corrupt or truncated recording ({error})") from error
    except BaseException:
        conn.close()
        raise


def _detect(conn: sqlite3.Connection, path: str, max_ops: int) -> Recording:
    tables = {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master")}
    if "schema_migrations" in tables and "ops" in tables:
        check_readable(conn, path)
        conn.execute("SELECT 1 FROM ops LIMIT 1").fetchone()  # touches the data pages
        return KreplayRecording(conn, path, max_ops)
    if "schema_migrations" in tables:
        check_readable(conn, path)
    if "operations" in tables:
        columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(operations)")}
        if columns >= _REQUIRED_SEED_COLUMNS:
            conn.execute("SELECT 1 FROM operations LIMIT 1").fetchone()
            return SeedRecording(conn, path, max_ops)
    raise NotARecordingError(
        f"{path}: SQLite file without recording tables (expected kreplay 'ops' or replay-cli "
        "'operations')"
    )
