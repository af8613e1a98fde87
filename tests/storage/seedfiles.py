"""Files in the original Go tool's two schemas, built with its exact DDL."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from recorder.storage.seed import SEED_V1_DDL, SEED_V2_DDL, split_statements

V1_INSERT = (
    "INSERT INTO operations (session_id, sequence_number, timestamp, operation_type,"
    " resource_kind, namespace, name, resource_data, error, duration_ms)"
    " VALUES (?,?,?,?,?,?,?,?,?,?)"
)
V2_INSERT = (
    "INSERT INTO operations (session_id, sequence_number, timestamp, operation_type,"
    " resource_kind, namespace, name, resource_data, error, duration_ms, actor_id, uid,"
    " resource_version, generation, verb) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
SPAN_INSERT = "INSERT INTO reconcile_spans VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
T0 = 1_767_000_000


def pod_json(name: str, rv: int) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "resourceVersion": str(rv)},
            "status": {"phase": "Running"},
        }
    )


def _create(path: Path, ddl: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    for statement in split_statements(ddl):
        conn.execute(statement)
    return conn


def v1_rows(session: str, count: int, first_seq: int = 1) -> list[tuple[Any, ...]]:
    """Rows the Go tool's first version wrote: GET/UPDATE/WATCH, errors as text."""
    rows: list[tuple[Any, ...]] = []
    for index in range(count):
        kind = ("GET", "UPDATE", "WATCH", "LIST")[index % 4]
        name = f"web-{index % 3}"
        error = "Operation cannot be fulfilled: conflict" if index % 7 == 6 else None
        data = None if error else pod_json(name, 100 + index)
        rows.append(
            (session, first_seq + index, T0 + index, kind, "Pod", "default", name, data,
             error, index % 50)
        )  # fmt: skip
    return rows


def write_seed_v1(path: Path, sessions: dict[str, int]) -> Path:
    rows = [row for session, count in sessions.items() for row in v1_rows(session, count)]
    return write_seed_v1_rows(path, rows)


def write_seed_v1_rows(path: Path, rows: list[tuple[Any, ...]]) -> Path:
    """A first-version file holding exactly ``rows`` (``V1_INSERT`` order)."""
    conn = _create(path, SEED_V1_DDL)
    conn.executemany(V1_INSERT, rows)
    conn.commit()
    conn.close()
    return path


def v2_rows(session: str, count: int, first_seq: int = 0) -> list[tuple[Any, ...]]:
    """Later-schema rows, with the oddities real files have (NULLs, '' errors, 0-based)."""
    rows: list[tuple[Any, ...]] = []
    for index, base in enumerate(v1_rows(session, count, first_seq)):
        actor = None if index % 11 == 10 else f"controller-{index % 2}"
        uid = f"uid-{base[6]}"
        generation = None if index % 5 == 4 else index // 3
        verb = base[3].lower() if index % 4 != 2 else "ADDED"
        error = "" if index % 13 == 12 else base[8]
        namespace = None if index % 17 == 16 else base[5]
        rows.append(
            (*base[:5], namespace, base[6], base[7], error, base[9], actor, uid,
             str(100 + index), generation, verb)
        )  # fmt: skip
    return rows


def span_rows(session: str, count: int) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for index in range(count):
        start = (T0 + index) * 1000
        end = None if index == count - 1 else start + 250
        rows.append(
            (f"{session}-span-{index}", session, "controller-0", start, end,
             None if end is None else 250, "Pod", "default", f"web-{index % 3}",
             f"uid-web-{index % 3}", str(100 + index), "watch MODIFIED",
             "boom" if index % 4 == 3 else None)
        )  # fmt: skip
    return rows


def write_seed_v2(path: Path, sessions: dict[str, int], interleave: bool = False) -> Path:
    conn = _create(path, SEED_V2_DDL)
    batches = [v2_rows(session, count) for session, count in sessions.items()]
    if interleave:  # ids of one session are then not contiguous
        rows = [row for group in zip(*batches, strict=False) for row in group]
        rows += [row for batch in batches for row in batch[min(map(len, batches)) :]]
    else:
        rows = [row for batch in batches for row in batch]
    conn.executemany(V2_INSERT, rows)
    for session in sessions:
        conn.executemany(SPAN_INSERT, span_rows(session, 5))
    conn.commit()
    conn.close()
    return path


def all_rows(path: Path, table: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    rows = [dict(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY rowid")]
    conn.close()
    return rows
