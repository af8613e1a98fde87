"""``export_session``: one session of any recording out as JSON lines or the Go tool's schema.

For sessions imported from the Go tool, the kept original column values (``seed_origin``)
are laid over the derived row, so import then export gives back every column.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from recorder.errors import InvalidInputError
from recorder.storage import jsonl
from recorder.storage.api import Recording
from recorder.storage.model import SessionInfo
from recorder.storage.seed import (
    SEED_V2_DDL,
    SPAN_COLUMNS,
    V2_OP_COLUMNS,
    body_text,
    seed_op_values,
    seed_span_row,
    split_statements,
)

FORMATS = ("jsonl", "seed")
BATCH = 5000
MAX_SPANS = 10_000_000

Progress = Callable[[int, int], None]
Origins = Iterator[tuple[int, dict[str, Any]]]


def origins_of(recording: Recording, session_id: str, item: str) -> Origins:
    """Kept Go-tool values, for recordings that have them (ours); nothing for the others."""
    reader = getattr(recording, "origins", None)
    if reader is None:
        return iter(())
    found: Origins = reader(session_id, item)
    return found


class OriginCursor:
    """Merge-joins kept values (in key order) with a stream of keys in the same order."""

    def __init__(self, entries: Origins) -> None:
        self._entries = entries
        self._head = next(entries, None)

    def pop(self, key: int) -> dict[str, Any] | None:
        for _ in range(1 << 40):
            if self._head is None or self._head[0] > key:
                return None
            head = self._head
            self._head = next(self._entries, None)
            if head[0] == key:
                return head[1]
        return None


def export_session(
    recording: Recording,
    session_id: str,
    output_format: str,
    output: str,
    progress: Progress | None = None,
) -> int:
    """Write ``session_id`` to ``output`` ('-' = stdout for jsonl); return the op count."""
    info = recording.session(session_id)  # unknown sessions fail here, listing those that exist
    check_output(output_format, output)
    if output_format == "jsonl":
        if output == "-":
            return _write_jsonl(recording, info, sys.stdout, progress)
        return _write_jsonl_file(recording, info, output, progress)
    return _write_seed_file(recording, info, output, progress)


def check_output(output_format: str, output: str) -> None:
    """The format is known and the output path new, in a folder that exists ('-' is
    stdout, for jsonl only): checked before anything is written."""
    if output_format not in FORMATS:
        raise InvalidInputError(f"unknown export format {output_format!r}; use jsonl or seed")
    if output == "-":
        if output_format == "seed":
            raise InvalidInputError("--format seed writes a SQLite file: give -o PATH")
        return
    if os.path.lexists(output):
        raise InvalidInputError(f"{output}: already exists; choose another output path")
    if not os.path.isdir(os.path.dirname(os.path.abspath(output))):
        raise InvalidInputError(f"{output}: no such folder for the output")


def _write_jsonl(
    recording: Recording, info: SessionInfo, handle: TextIO, progress: Progress | None
) -> int:
    session_id = info.session_id
    session_seed = next(origins_of(recording, session_id, "session"), (0, None))[1]
    handle.write(jsonl.dumps(jsonl.session_line(info, session_seed)) + "\n")
    kept = OriginCursor(origins_of(recording, session_id, "op"))
    count = 0
    for op in recording.operations(session_id):
        request, response = recording.body(op.request_ref), recording.body(op.response_ref)
        line = jsonl.op_line(op, request, response, kept.pop(op.seq))
        handle.write(jsonl.dumps(line) + "\n")
        count += 1
        if progress is not None and count % BATCH == 0:
            progress(count, info.op_count)
    span_kept = OriginCursor(origins_of(recording, session_id, "span"))
    for span in _spans_by_id(recording, session_id):
        handle.write(jsonl.dumps(jsonl.span_line(span, span_kept.pop(span.span_id))) + "\n")
    return count


def _write_jsonl_file(
    recording: Recording, info: SessionInfo, path: str, progress: Progress | None
) -> int:
    partial = path + ".partial"
    try:
        with open(partial, "w", encoding="utf-8") as handle:
            count = _write_jsonl(recording, info, handle, progress)
    except BaseException:
        os.remove(partial)
        raise
    os.replace(partial, path)  # the output appears complete or not at all
    return count


def _spans_by_id(recording: Recording, session_id: str) -> list[Any]:
    spans = [span for _, span in zip(range(MAX_SPANS), recording.spans(session_id), strict=False)]
    return sorted(spans, key=lambda span: span.span_id)


def _write_seed_file(
    recording: Recording, info: SessionInfo, path: str, progress: Progress | None
) -> int:
    session_id = info.session_id
    partial = path + ".partial"
    if os.path.exists(partial):
        os.remove(partial)
    try:
        conn = sqlite3.connect(partial, isolation_level=None)
    except sqlite3.Error as error:  # a folder we may not write to
        raise InvalidInputError(f"{path}: cannot write the output ({error})") from error
    try:
        for statement in split_statements(SEED_V2_DDL):
            conn.execute(statement)
        conn.execute("BEGIN")
        count = _insert_seed_ops(conn, recording, info, progress)
        _insert_seed_spans(conn, recording, session_id)
        conn.execute("COMMIT")
    except (sqlite3.IntegrityError, OverflowError) as error:  # a kept value its column refuses
        conn.close()
        os.remove(partial)
        raise InvalidInputError(
            f"session {session_id!r}: a value does not fit the Go tool's schema ({error});"
            " nothing was written"
        ) from error
    except BaseException:
        conn.close()
        os.remove(partial)
        raise
    conn.close()
    os.replace(partial, path)  # the output appears complete or not at all
    return count


def _insert_seed_ops(
    conn: sqlite3.Connection, recording: Recording, info: SessionInfo, progress: Progress | None
) -> int:
    session_id = info.session_id
    offsets = next(origins_of(recording, session_id, "session"), (0, {}))[1]
    id_offset = int(offsets.get("id_offset", 0))
    kept = OriginCursor(origins_of(recording, session_id, "op"))
    total = info.op_count
    sql = f"INSERT INTO operations ({', '.join(V2_OP_COLUMNS)}) VALUES ({_marks(V2_OP_COLUMNS)})"
    rows: list[tuple[Any, ...]] = []
    count = 0
    seq_offset = int(offsets.get("seq_offset", 0))
    for op in recording.operations(session_id):
        data = body_text(op, recording.body(op.request_ref), recording.body(op.response_ref))
        values = seed_op_values(op, data, op.seq + id_offset, seq_offset)
        override = kept.pop(op.seq)
        if override:
            row = dict(zip(V2_OP_COLUMNS, values, strict=True))
            row.update(override)
            values = tuple(row[column] for column in V2_OP_COLUMNS)
        rows.append(values)
        count += 1
        if len(rows) >= BATCH:
            conn.executemany(sql, rows)
            rows.clear()
            if progress is not None:
                progress(count, total)
    conn.executemany(sql, rows)
    return count


def _insert_seed_spans(conn: sqlite3.Connection, recording: Recording, session_id: str) -> None:
    kept = OriginCursor(origins_of(recording, session_id, "span"))
    rows = []
    for span in _spans_by_id(recording, session_id):
        row = seed_span_row(span)
        row.update(kept.pop(span.span_id) or {})
        rows.append(tuple(row[column] for column in SPAN_COLUMNS))
    conn.executemany(
        f"INSERT INTO reconcile_spans ({', '.join(SPAN_COLUMNS)}) VALUES ({_marks(SPAN_COLUMNS)})",
        rows,
    )


def _marks(columns: tuple[str, ...]) -> str:
    return ",".join("?" * len(columns))
