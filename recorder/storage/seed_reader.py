"""The source half of an import: the Go tool's operations, in order, converted to ours.

``SeedReader`` streams the ``operations`` rows in (session, sequence_number, id) order and
yields a ``SessionStart`` at each new session, then ``Converted`` pages: our operations
and, per row, the Go tool's column values that ``seed.seed_op_values`` would not give
back (``seed_origin``, so that exporting to the seed schema is lossless). It writes
nothing, so the importer runs it in its own process or in a helper process
(``import_worker``), with the same result.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from recorder.errors import InvalidInputError
from recorder.storage.legacy import parse_error_text
from recorder.storage.model import VERBS, WATCH_EVENT_TYPES, Operation
from recorder.storage.seed import (
    INT64_MAX,
    MAX_MILLISECONDS,
    MAX_SECONDS,
    NS_PER_S,
    V2_OP_COLUMNS,
    overrides,
    same_values,
    seed_op_values,
)

MAX_SOURCE_ROWS = 1 << 40
# The Operation fields a Go-tool row fills, in order: what a helper process sends.
SEED_FIELDS = tuple(field.name for field in fields(Operation))[:23]
assert SEED_FIELDS[-1] == "actor", "Operation's field order changed: update seed_reader"

Origin = tuple[int, dict[str, Any]]


@dataclass(slots=True)
class SessionStart:
    """A new session begins: its first row by column, and how its numbers map to ours."""

    first: dict[str, Any]
    seq_offset: int  # subtracted from the Go tool's sequence numbers
    id_offset: int  # added to our seq to give back the Go tool's row id


@dataclass(slots=True)
class Converted:
    """Consecutive operations of the current session, with their rows' seed origins.

    ``held_back`` lists (index in ``ops``, source row id) of bodies left out (``None``)
    because they are over the reader's ``inline_max``: whoever writes reads them itself.
    """

    ops: list[Operation]
    origins: list[Origin]
    held_back: list[tuple[int, int]] = field(default_factory=list)


SeedEvent = SessionStart | Converted


def text(value: Any) -> str:
    if value.__class__ is str:
        return value
    return "" if value is None else str(value)


def integer(value: Any) -> int:
    if value.__class__ is int:
        return value
    try:
        return int(str(value))
    except ValueError:
        return 0  # the original value is kept in seed_origin


def _verb(verb: Any, operation_type: Any) -> tuple[str, str]:
    """(our verb, watch event type) from the Go tool's verb and operation_type columns."""
    if verb.__class__ is str and verb in VERBS:
        return verb, ""
    for candidate in (text(verb), text(operation_type)):
        if candidate.lower() in VERBS:
            return candidate.lower(), ""
        if candidate.upper() in WATCH_EVENT_TYPES:
            return "watch", candidate.upper()
    return text(operation_type).lower() or "get", ""


def select_sql(columns: tuple[str, ...]) -> str:
    # Bodies come as bytes: no decode here and encode again for the writer.
    selected = ", ".join(
        "CAST(resource_data AS BLOB)" if name == "resource_data" else name for name in columns
    )
    return f"SELECT {selected} FROM operations ORDER BY session_id, sequence_number, id"


class SeedReader:
    """Reads and converts; ``columns`` is ``seed.V1_OP_COLUMNS`` or ``V2_OP_COLUMNS``."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        columns: tuple[str, ...],
        page_rows: int,
        inline_max: int | None = None,
        source: str = "the source",
    ) -> None:
        self.conn = conn
        self.columns = columns
        self.page_rows = page_rows
        self.inline_max = MAX_SOURCE_ROWS << 20 if inline_max is None else inline_max
        self.source = source
        self._session = ""
        self._session_key: Any = None
        self._seq_offset = 0
        self._id_offset = 0
        self._last_seq = 0

    def events(self) -> Iterator[SeedEvent]:
        cursor = self.conn.execute(select_sql(self.columns))
        for _ in range(MAX_SOURCE_ROWS // self.page_rows + 1):
            rows = cursor.fetchmany(self.page_rows)
            if not rows:
                return
            yield from self._page(rows)

    def _page(self, rows: list[tuple[Any, ...]]) -> Iterator[SeedEvent]:
        converted = Converted([], [])
        seq_offset, id_offset = self._seq_offset, self._id_offset
        convert, keep, inline_max = self._operation, converted.ops.append, self.inline_max
        for values in rows:
            if values[1] != self._session_key:
                if converted.ops:
                    yield converted
                    converted = Converted([], [])
                    keep = converted.ops.append
                yield self._start(values)
                seq_offset, id_offset = self._seq_offset, self._id_offset
            op = convert(values)
            data = values[8]
            if data is not None and len(data) > inline_max:
                converted.held_back.append((len(converted.ops), values[0]))
                op.response_body = None
            keep(op)
            # resource_data is kept as the body, byte for byte, and exported as text.
            derived = seed_op_values(op, data, op.seq + id_offset, seq_offset)
            if not same_values(derived, values):
                kept = overrides(
                    dict(zip(V2_OP_COLUMNS, derived, strict=True)),
                    dict(zip(self.columns, values, strict=True)),
                )
                converted.origins.append((op.seq, kept))
        if converted.ops:
            yield converted

    def _start(self, values: tuple[Any, ...]) -> SessionStart:
        first = dict(zip(self.columns, values, strict=True))
        number = integer(first["sequence_number"])
        self._seq_offset = min(number - 1, 0)  # sequence numbers from 1 stay as they were
        self._id_offset = integer(first["id"]) - 1
        self._session, self._last_seq = text(first["session_id"]), 0
        self._session_key = first["session_id"]  # as stored, whatever its SQLite type
        if abs(integer(first["timestamp"])) > MAX_SECONDS:  # the session's start
            raise self._out_of_range(values)
        return SessionStart(first, self._seq_offset, self._id_offset)

    def _operation(self, values: tuple[Any, ...]) -> Operation:
        """One Go-tool row (``self.columns`` order) as our operation."""
        (_, _, number, timestamp, operation_type, kind, namespace, name, data, error,
         duration_ms) = values[:11]  # fmt: skip
        actor, uid, resource_version, generation, verb = values[11:] or (None,) * 5
        seq = (number if number.__class__ is int else integer(number)) - self._seq_offset
        if seq <= self._last_seq:  # duplicate sequence numbers: keep order, renumber
            seq = self._last_seq + 1
        self._last_seq = seq
        error = error if error.__class__ is str else text(error)
        code, reason, message = parse_error_text(error) if error else (0, "", "")
        event_type = ""
        if verb.__class__ is not str or verb not in VERBS:
            verb, event_type = _verb(verb, operation_type)
        body = None if data is None else bytes(data)
        ts_ns = (timestamp if timestamp.__class__ is int else integer(timestamp)) * NS_PER_S
        duration_us = integer(duration_ms) * 1000
        number = None if generation is None else integer(generation)
        if not (-INT64_MAX <= ts_ns <= INT64_MAX and -INT64_MAX <= duration_us <= INT64_MAX
                and seq <= INT64_MAX
                and (number is None or -INT64_MAX <= number <= INT64_MAX)):  # fmt: skip
            raise self._out_of_range(values)
        # Positional, in Operation's field order, and the type tests inlined: once per row.
        return Operation(
            self._session, seq, ts_ns, verb, event_type, "",
            kind if kind.__class__ is str else text(kind), "", "",
            namespace if namespace.__class__ is str else text(namespace),
            name if name.__class__ is str else text(name),
            uid if uid.__class__ is str else text(uid),
            resource_version if resource_version.__class__ is str else text(resource_version),
            number, "", None, body, 0, code, reason, message, duration_us,
            actor if actor.__class__ is str else text(actor),
        )  # fmt: skip

    def _out_of_range(self, values: tuple[Any, ...]) -> InvalidInputError:
        """A value our 64-bit columns cannot hold (a millisecond timestamp, a huge number)."""
        row = dict(zip(self.columns, values, strict=True))
        limits = (("timestamp", MAX_SECONDS, "Unix seconds"),
                  ("duration_ms", MAX_MILLISECONDS, "milliseconds"),
                  ("sequence_number", INT64_MAX - 1, "a sequence number"),
                  ("generation", INT64_MAX, "a generation"))  # fmt: skip
        for column, limit, meaning in limits:
            value = integer(row.get(column))
            if abs(value) > limit or (column == "sequence_number" and self._last_seq > limit):
                return InvalidInputError(
                    f"{self.source}: operations row {row['id']} (session {self._session!r}):"
                    f" {column} {value} is out of range for {meaning} (at most {limit});"
                    " 'kreplay verify' lists such values"
                )
        return InvalidInputError(f"{self.source}: operations row {row['id']}: value out of range")
