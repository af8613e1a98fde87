"""Turn a file this kreplay wrote into what an older kreplay wrote: later migrations undone,
so that readers and upgrades are tested on real older files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

_V5_INDEXES = (
    "CREATE INDEX ops_by_object ON ops (object_id, seq)",
    "CREATE INDEX ops_by_callsite ON ops (callsite_id, seq) WHERE callsite_id IS NOT NULL",
    "CREATE INDEX ops_by_verb_kind ON ops (session, verb, kind, seq)",
)
_V4_BLOBS = (
    "CREATE TABLE blobs (id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE,"
    " codec INTEGER NOT NULL, base INTEGER, raw_size INTEGER NOT NULL, data BLOB NOT NULL)"
)


def _undo_runs(conn: sqlite3.Connection) -> None:
    for table in ("object_runs", "callsite_runs", "verb_kind_runs"):
        conn.execute(f"DROP TABLE {table}")
    for statement in _V5_INDEXES:
        conn.execute(statement)


def _undo_blob_rebuild(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE blobs RENAME TO blobs_v5")  # v5 dropped the unique digest
    conn.execute(_V4_BLOBS)
    conn.execute("INSERT INTO blobs SELECT * FROM blobs_v5")
    conn.execute("DROP TABLE blobs_v5")


_UNDO = {6: _undo_runs, 5: _undo_blob_rebuild}


def downgrade(path: Path, version: int) -> None:
    """Undo the migrations above ``version`` (down to version 4 at most)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    current = int(conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0])
    for undone in range(current, version, -1):
        _UNDO[undone](conn)
        conn.execute("DELETE FROM schema_migrations WHERE version = ?", (undone,))
    conn.execute("COMMIT")
    conn.close()
