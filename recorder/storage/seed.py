"""The original Go tool's (``replay-cli``) two SQLite schemas, and the mapping to ours.

The DDL is the Go tool's, column for column: tests build seed files with it and
``kreplay export --format seed`` writes the later schema. The mapping functions turn one
of our operations (or spans) into the Go tool's row; the importer stores, per row, only
the original values this mapping would not reproduce, so import then export is lossless.
"""

from __future__ import annotations

from typing import Any

from recorder.storage.model import Operation, ReconcileSpan

SEED_V1_DDL = """
CREATE TABLE IF NOT EXISTS operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    sequence_number INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    operation_type TEXT NOT NULL,
    resource_kind TEXT NOT NULL,
    namespace TEXT,
    name TEXT,
    resource_data TEXT,
    error TEXT,
    duration_ms INTEGER NOT NULL
)
"""

SEED_V2_DDL = """
CREATE TABLE IF NOT EXISTS operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    sequence_number INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    operation_type TEXT NOT NULL,
    resource_kind TEXT NOT NULL,
    namespace TEXT,
    name TEXT,
    resource_data TEXT,
    error TEXT,
    duration_ms INTEGER NOT NULL,
    actor_id TEXT,
    uid TEXT,
    resource_version TEXT,
    generation INTEGER,
    verb TEXT
);
CREATE INDEX IF NOT EXISTS idx_session_sequence ON operations(session_id, sequence_number);
CREATE INDEX IF NOT EXISTS idx_timestamp ON operations(timestamp);
CREATE INDEX IF NOT EXISTS idx_resource ON operations(resource_kind, namespace, name);
CREATE INDEX IF NOT EXISTS idx_uid_rv ON operations(uid, resource_version);
CREATE TABLE IF NOT EXISTS reconcile_spans (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    start_ts INTEGER NOT NULL,
    end_ts INTEGER,
    duration_ms INTEGER,
    kind TEXT NOT NULL,
    namespace TEXT,
    name TEXT,
    trigger_uid TEXT,
    trigger_resource_version TEXT,
    trigger_reason TEXT,
    error TEXT
)
"""

V1_OP_COLUMNS = (
    "id", "session_id", "sequence_number", "timestamp", "operation_type", "resource_kind",
    "namespace", "name", "resource_data", "error", "duration_ms",
)  # fmt: skip
V2_OP_COLUMNS = (*V1_OP_COLUMNS, "actor_id", "uid", "resource_version", "generation", "verb")
SPAN_COLUMNS = (
    "id", "session_id", "actor_id", "start_ts", "end_ts", "duration_ms", "kind", "namespace",
    "name", "trigger_uid", "trigger_resource_version", "trigger_reason", "error",
)  # fmt: skip

# The Go tool's operation_type for each of our verbs.
OPERATION_TYPES = {
    "get": "GET", "list": "LIST", "create": "CREATE", "update": "UPDATE", "patch": "PATCH",
    "delete": "DELETE", "deletecollection": "DELETE", "watch": "WATCH",
}  # fmt: skip

NS_PER_S = 1_000_000_000
# What our 64-bit integer columns hold, and the Go tool's times that fit our nanoseconds.
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
MAX_SECONDS = INT64_MAX // NS_PER_S  # Unix seconds: about the year 2262
MAX_MILLISECONDS = INT64_MAX // 1000


def span_time_ns(number: int) -> int | None:
    """A Go tool span time, in Unix seconds, milliseconds or nanoseconds (told apart by
    size), in nanoseconds; None when it is out of range for all three."""
    found = number * NS_PER_S
    for limit, factor in ((10**17, 1), (10**14, 1000), (10**11, 1_000_000)):
        if abs(number) > limit:
            found = number * factor
            break
    return found if abs(found) <= INT64_MAX else None


NS_PER_MS = 1_000_000


def split_statements(ddl: str) -> list[str]:
    return [statement for statement in ddl.split(";") if statement.strip()]


def body_text(op: Operation, request: bytes | None, response: bytes | None) -> str | None:
    """The Go tool kept one object per row: the response, else what was sent."""
    body = response if response is not None else request
    if body is None:
        return None
    return body.decode("utf-8", errors="replace")


def error_text(op: Operation) -> str | None:
    """The Go tool's one error string; with our code and reason up front when we have them,
    so that its readers (and ours, via ``legacy.infer_error_code``) get the code back."""
    if op.error_reason and op.error_code:
        return f"{op.error_code} {op.error_reason}: {op.error_message}".rstrip(": ")
    if op.error_message:
        return op.error_message
    if op.error_code:
        return f"error ({op.error_code})"
    return None


def seed_op_values(
    op: Operation, data: str | None, row_id: int, seq_offset: int
) -> tuple[Any, ...]:
    """The Go tool's later-schema row for one of our operations, in ``V2_OP_COLUMNS`` order
    (before stored overrides). The one place this mapping is written down."""
    verb = op.verb
    return (
        row_id, op.session_id, op.seq + seq_offset, op.ts_ns // NS_PER_S,
        OPERATION_TYPES.get(verb) or verb.upper(), op.kind, op.namespace, op.name, data,
        error_text(op) if op.error_code or op.error_message else None,
        op.duration_us // 1000, op.actor, op.uid, op.resource_version, op.generation, verb,
    )  # fmt: skip


def seed_op_row(
    op: Operation, data: str | None, row_id: int, offsets: dict[str, int]
) -> dict[str, Any]:
    """``seed_op_values`` by column name."""
    values = seed_op_values(op, data, row_id, offsets.get("seq_offset", 0))
    return dict(zip(V2_OP_COLUMNS, values, strict=True))


def same_values(derived: tuple[Any, ...], original: tuple[Any, ...]) -> bool:
    """Equal value for value, types included (1 and 1.0 are not the same column value)."""
    head = derived[: len(original)]
    # Equal values of different SQLite types can only be an int and a float (text, blobs
    # and NULL equal only their own kind), and derived rows hold no floats.
    return head == original and float not in map(type, original)


def seed_span_row(span: ReconcileSpan) -> dict[str, Any]:
    """The Go tool's ``reconcile_spans`` row for one of our spans (times in Unix ms)."""
    duration = None if span.end_ns is None else (span.end_ns - span.start_ns) // NS_PER_MS
    return {
        "id": span.external_id or f"{span.session_id}-{span.span_id}",
        "session_id": span.session_id,
        "actor_id": span.actor,
        "start_ts": span.start_ns // NS_PER_MS,
        "end_ts": None if span.end_ns is None else span.end_ns // NS_PER_MS,
        "duration_ms": duration,
        "kind": span.kind,
        "namespace": span.namespace,
        "name": span.name,
        "trigger_uid": None,
        "trigger_resource_version": None,
        "trigger_reason": span.trigger or None,
        "error": span.error or None,
    }


def overrides(derived: dict[str, Any], original: dict[str, Any]) -> dict[str, Any]:
    """Original values the derivation does not reproduce (type included)."""
    return {
        column: value
        for column, value in original.items()
        if column not in derived
        or type(derived[column]) is not type(value)
        or derived[column] != value
    }
