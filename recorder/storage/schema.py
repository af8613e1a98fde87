"""Ordered, recorded migrations of the kreplay recording format.

Each migration runs once, in order, inside a transaction, and is recorded in
``schema_migrations``. A file whose newest recorded version is above ``SCHEMA_VERSION``
was written by a newer kreplay and is refused.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from recorder.errors import NewerSchemaError, NotARecordingError

FORMAT_NAME = "kreplay-recording"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


_V1 = """
CREATE TABLE kreplay_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL UNIQUE,
    started_ns INTEGER NOT NULL,
    ended_ns INTEGER,
    operator TEXT NOT NULL DEFAULT '',
    cluster TEXT NOT NULL DEFAULT '',
    server_version TEXT NOT NULL DEFAULT '',
    recorder_version TEXT NOT NULL DEFAULT '',
    labels TEXT NOT NULL DEFAULT '{}',
    op_count INTEGER NOT NULL DEFAULT 0,
    first_seq INTEGER,
    last_seq INTEGER,
    first_ts_ns INTEGER,
    last_ts_ns INTEGER,
    dropped_ops INTEGER NOT NULL DEFAULT 0,
    oversize_ops INTEGER NOT NULL DEFAULT 0,
    truncated INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE session_counts (
    session INTEGER NOT NULL REFERENCES sessions(id),
    dimension TEXT NOT NULL,
    value TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (session, dimension, value)
) WITHOUT ROWID;
CREATE TABLE zdicts (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE blobs (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    codec INTEGER NOT NULL,
    base INTEGER,
    raw_size INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE objects (
    id INTEGER PRIMARY KEY,
    session INTEGER NOT NULL REFERENCES sessions(id),
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (session, kind, namespace, name)
);
CREATE TABLE callsites (
    id INTEGER PRIMARY KEY,
    frames TEXT NOT NULL UNIQUE,
    file TEXT NOT NULL,
    line INTEGER NOT NULL,
    function TEXT NOT NULL
);
CREATE TABLE ops (
    session INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    verb TEXT NOT NULL,
    event_type TEXT NOT NULL DEFAULT '',
    api_version TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT '',
    resource TEXT NOT NULL DEFAULT '',
    subresource TEXT NOT NULL DEFAULT '',
    namespace TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    uid TEXT NOT NULL DEFAULT '',
    resource_version TEXT NOT NULL DEFAULT '',
    generation INTEGER,
    object_id INTEGER NOT NULL,
    patch_type TEXT NOT NULL DEFAULT '',
    request_blob INTEGER,
    response_blob INTEGER,
    status_code INTEGER NOT NULL DEFAULT 0,
    error_code INTEGER NOT NULL DEFAULT 0,
    error_reason TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    duration_us INTEGER NOT NULL DEFAULT 0,
    actor TEXT NOT NULL DEFAULT '',
    thread TEXT NOT NULL DEFAULT '',
    span_id INTEGER,
    callsite_id INTEGER,
    PRIMARY KEY (session, seq)
) WITHOUT ROWID;
CREATE INDEX ops_by_object ON ops (object_id, seq);
CREATE INDEX ops_by_callsite ON ops (callsite_id, seq) WHERE callsite_id IS NOT NULL;
CREATE TABLE spans (
    session INTEGER NOT NULL,
    span_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL DEFAULT '',
    thread TEXT NOT NULL DEFAULT '',
    trigger TEXT NOT NULL DEFAULT '',
    start_ns INTEGER NOT NULL,
    end_ns INTEGER,
    start_seq INTEGER,
    end_seq INTEGER,
    error TEXT NOT NULL DEFAULT '',
    external_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (session, span_id)
) WITHOUT ROWID;
"""

_V2 = """
CREATE INDEX ops_by_verb_kind ON ops (session, verb, kind, seq);
CREATE INDEX ops_by_status ON ops (session, error_code, seq) WHERE error_code != 0;
"""

# Values of the Go tool's columns that an import could not derive from our own columns,
# so that exporting back to its schema is lossless (see recorder/storage/seed.py).
_V3 = """
CREATE TABLE seed_origin (
    session INTEGER NOT NULL,
    item TEXT NOT NULL,
    key INTEGER NOT NULL,
    columns TEXT NOT NULL,
    PRIMARY KEY (session, item, key)
) WITHOUT ROWID;
"""

# Errors recorded only in the HTTP status (error_code 0: imported files, transport failures)
# and watch ERROR events, so error breakpoints stay index lookups.
_V4 = """
CREATE INDEX ops_by_http_status ON ops (session, status_code, seq)
    WHERE status_code >= 400 OR event_type = 'ERROR';
"""

# Dedup moves into the writer's memory (recorder/storage/codec.py): a unique index on a
# hash is updated at a random place for every new body, so each batch rewrote most of its
# pages. SQLite cannot drop a constraint's index, so the table is rebuilt without it.
_V5 = """
CREATE TABLE blobs_v5 (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL,
    codec INTEGER NOT NULL,
    base INTEGER,
    raw_size INTEGER NOT NULL,
    data BLOB NOT NULL
);
INSERT INTO blobs_v5 (id, digest, codec, base, raw_size, data)
    SELECT id, digest, codec, base, raw_size, data FROM blobs ORDER BY id;
DROP TABLE blobs;
ALTER TABLE blobs_v5 RENAME TO blobs;
"""

# Runs replace the three secondary indexes a batch updated at scattered places for every
# operation (recorder/storage/runs.py). Existing operations get runs of one 512-seq bucket
# each, so that runs of one key never overlap. Object runs are appended in rowid order with
# a small index: a batch touches most objects, and keyed by object its rows would dirty
# nearly every page of the table at each commit.
_V6 = """
CREATE TABLE object_runs (
    id INTEGER PRIMARY KEY,
    object_id INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    seqs TEXT NOT NULL
);
CREATE UNIQUE INDEX object_runs_by_object ON object_runs (object_id, first_seq);
CREATE TABLE callsite_runs (
    session INTEGER NOT NULL,
    callsite_id INTEGER NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    seqs TEXT NOT NULL,
    PRIMARY KEY (session, callsite_id, first_seq)
) WITHOUT ROWID;
CREATE TABLE verb_kind_runs (
    session INTEGER NOT NULL,
    verb TEXT NOT NULL,
    kind TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    seqs TEXT NOT NULL,
    PRIMARY KEY (session, verb, kind, first_seq)
) WITHOUT ROWID;
INSERT INTO object_runs (object_id, first_seq, last_seq, seqs)
    SELECT object_id, MIN(seq), MAX(seq), json_group_array(seq) FROM ops
    GROUP BY object_id, seq >> 9;
INSERT INTO callsite_runs
    SELECT session, callsite_id, MIN(seq), MAX(seq), json_group_array(seq) FROM ops
    WHERE callsite_id IS NOT NULL GROUP BY session, callsite_id, seq >> 9;
INSERT INTO verb_kind_runs
    SELECT session, verb, kind, MIN(seq), MAX(seq), json_group_array(seq) FROM ops
    GROUP BY session, verb, kind, seq >> 9;
DROP INDEX ops_by_object;
DROP INDEX ops_by_callsite;
DROP INDEX ops_by_verb_kind
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial format: sessions, ops, blobs, objects, callsites, spans", _V1),
    Migration(2, "indexes for verb/kind and error breakpoints", _V2),
    Migration(3, "seed_origin: the Go tool's values an import keeps for a lossless export", _V3),
    Migration(4, "index for errors recorded only in the HTTP status", _V4),
    Migration(5, "blobs without a unique digest index: the writer dedups in memory", _V5),
    Migration(6, "runs of seqs per object, call site and verb/kind replace three indexes", _V6),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def recorded_version(conn: sqlite3.Connection) -> int:
    """The newest migration recorded in the file; 0 for a file without kreplay tables."""
    row = conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
    ).fetchone()
    if row is None:
        return 0
    version = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
    return int(version or 0)


def refuse_newer_for_writing(conn: sqlite3.Connection, path: str) -> int:
    """Refuse to write to a file from a newer kreplay; return the recorded version."""
    current = recorded_version(conn)
    if current > SCHEMA_VERSION:
        raise NewerSchemaError(
            f"{path}: recording format version {current} is newer than this kreplay "
            f"supports ({SCHEMA_VERSION}); upgrade kreplay to write to it"
        )
    return current


def check_readable(conn: sqlite3.Connection, path: str) -> int:
    """Refuse files from a newer kreplay; return the recorded version."""
    version = recorded_version(conn)
    if version > SCHEMA_VERSION:
        raise NewerSchemaError(
            f"{path}: recording format version {version} is newer than this kreplay "
            f"supports ({SCHEMA_VERSION}); upgrade kreplay to read it"
        )
    if version == 0:
        raise NotARecordingError(f"{path}: not a kreplay recording (no schema_migrations table)")
    return version


def refuse_foreign(conn: sqlite3.Connection, path: str) -> None:
    """Never add our tables to someone else's database (a Go-tool file, an app's file)."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    tables = sorted(str(row[0]) for row in rows)
    if tables and "schema_migrations" not in tables:
        shown = ", ".join(tables[:5]) + (" ..." if len(tables) > 5 else "")
        raise NotARecordingError(
            f"{path}: not a kreplay recording (tables: {shown}); kreplay writes only to its"
            " own recording files (use 'kreplay import' to convert a replay-cli file)"
        )


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Bring a writable file up to ``SCHEMA_VERSION``; return the version reached."""
    refuse_foreign(conn, path)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ns INTEGER NOT NULL)"
    )
    current = refuse_newer_for_writing(conn, path)
    for migration in MIGRATIONS:
        if migration.version <= current:
            continue
        _apply(conn, migration)
    return SCHEMA_VERSION


def _apply(conn: sqlite3.Connection, migration: Migration) -> None:
    # executescript commits first, so run the statements one by one inside one transaction.
    conn.execute("BEGIN IMMEDIATE")
    try:
        if recorded_version(conn) >= migration.version:  # another process got here first
            conn.execute("ROLLBACK")
            return
        for statement in migration.sql.split(";"):
            if statement.strip():
                conn.execute(statement)
        if migration.version == 1:
            conn.execute("INSERT INTO kreplay_meta VALUES ('format', ?)", (FORMAT_NAME,))
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, ?)",
            (migration.version, migration.name, time.time_ns()),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
