"""Values SQLite keeps but our columns cannot hold: one-line errors, never a traceback.

The Go tool's INTEGER columns may hold text, fractions or numbers too large for our 64-bit
nanoseconds (a millisecond timestamp); a JSON-lines line may hold any integer. Readers and
imports refuse them with a one-line error naming the row or line; the source is unchanged.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from recorder.errors import InvalidInputError, KreplayError, NotARecordingError, RecordingError
from recorder.storage import Operation, RecordingWriter, SessionInfo, open_recording
from recorder.storage.importer import import_recording
from recorder.storage.legacy import parse_error_text
from tests.storage.seedfiles import SPAN_INSERT, T0, V2_INSERT, write_seed_v2

# (column, value, what the one-line error says)
ODD_OPERATION_VALUES = [
    ("timestamp", "2024-01-01T00:00:00Z", r"timestamp '2024-01-01T00:00:00Z' is not a number"),
    ("timestamp", 1_700_000_000_123, r"timestamp 1700000000123 is not a number of Unix seconds"),
    ("timestamp", 1 << 62, r"timestamp 4611686018427387904 is not a number of Unix seconds"),
    ("sequence_number", "two", r"sequence_number 'two' is not an integer"),
    ("duration_ms", "12ms", r"duration_ms '12ms' is not a number of milliseconds"),
    ("duration_ms", 1 << 62, r"duration_ms 4611686018427387904 is not a number of millis"),
    ("generation", "gen", r"generation 'gen' is not an integer"),
]


def odd_seed_file(path: Path, column: str, value: Any) -> Path:
    """A later-schema file of one session 'w': a good row, then one whose ``column`` is
    ``value``."""
    write_seed_v2(path, {})
    conn = sqlite3.connect(path)
    row = {"session_id": "w", "sequence_number": 1, "timestamp": T0, "operation_type": "GET",
           "resource_kind": "Pod", "namespace": "ns", "name": "ok", "resource_data": None,
           "error": None, "duration_ms": 1, "actor_id": "a", "uid": None,
           "resource_version": None, "generation": None, "verb": None}  # fmt: skip
    conn.execute(V2_INSERT, tuple(row.values()))
    conn.execute(V2_INSERT, tuple({**row, "sequence_number": 2, column: value}.values()))
    conn.commit()
    conn.close()
    return path


def read_session(path: Path, session: str) -> None:
    recording = open_recording(str(path))
    try:
        recording.session(session)
        for op in recording.operations(session):
            recording.operation(session, op.seq)
        list(recording.spans(session))
    finally:
        recording.close()


@pytest.mark.parametrize(("column", "value", "message"), ODD_OPERATION_VALUES)
def test_go_tool_values_our_columns_cannot_hold_are_one_line_reader_errors(
    tmp_path: Path, column: str, value: Any, message: str
) -> None:
    path = odd_seed_file(tmp_path / "go.db", column, value)
    before = path.read_bytes()
    with pytest.raises(NotARecordingError, match=message) as raised:
        read_session(path, "w")
    text = str(raised.value)
    assert "\n" not in text and "operations row 2 (session 'w')" in text
    assert path.read_bytes() == before


def test_go_tool_fractions_of_seconds_and_milliseconds_are_read(tmp_path: Path) -> None:
    path = odd_seed_file(tmp_path / "go.db", "timestamp", T0 + 0.5)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE operations SET duration_ms = 2.5 WHERE sequence_number = 2")
    conn.commit()
    conn.close()
    recording = open_recording(str(path))
    try:
        second = recording.operation("w", 2)
    finally:
        recording.close()
    assert second is not None
    assert (second.ts_ns, second.duration_us) == (T0 * 10**9 + 500_000_000, 2500)


@pytest.mark.parametrize("start", ["soon", 50_000_000_000])
def test_a_span_time_that_is_not_a_time_is_a_one_line_reader_error(
    tmp_path: Path, start: Any
) -> None:
    path = write_seed_v2(tmp_path / "go.db", {"w": 2})
    conn = sqlite3.connect(path)
    conn.execute(SPAN_INSERT, ("sp", "w", "a", start, None, None, "Pod", *(None,) * 6))
    conn.commit()
    conn.close()
    with pytest.raises(NotARecordingError, match=r"reconcile span 'sp': time .* (not a num|range)"):
        read_session(path, "w")


@pytest.mark.parametrize(
    ("column", "value"),
    [("timestamp", 1_700_000_000_123), ("timestamp", 1 << 62), ("duration_ms", 1 << 62)],
)
def test_importing_go_values_out_of_our_range_is_a_one_line_error_and_no_file(
    tmp_path: Path, column: str, value: int
) -> None:
    source = odd_seed_file(tmp_path / "go.db", column, value)
    before = source.read_bytes()
    target = tmp_path / "ours.db"
    with pytest.raises(InvalidInputError, match=rf"operations row 2 .*{column} {value} is out"):
        import_recording(str(source), str(target), max_ops=100, parallel=False)
    assert not target.exists() and source.read_bytes() == before


def test_importing_a_span_time_out_of_our_range_is_a_one_line_error(tmp_path: Path) -> None:
    source = write_seed_v2(tmp_path / "go.db", {"w": 2})
    conn = sqlite3.connect(source)
    conn.execute(SPAN_INSERT, ("sp", "w", "a", 50_000_000_000, None, None, "Pod", *(None,) * 6))
    conn.commit()
    conn.close()
    with pytest.raises(InvalidInputError, match=r"span 'sp' .*time 50000000000 is out of range"):
        import_recording(str(source), str(tmp_path / "ours.db"), max_ops=100, parallel=False)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('{"op": 9223372036854775808, "ts_ns": 1, "verb": "get"}', "op"),
        ('{"op": 1, "ts_ns": 9223372036854775808, "verb": "get"}', "ts_ns"),
        ('{"op": 1, "ts_ns": -9223372036854775809, "verb": "get"}', "ts_ns"),
        ('{"op": 1, "ts_ns": 1, "verb": "get", "duration_us": 1180591620717411303424}',
         "duration_us"),
        ('{"op": 1, "ts_ns": 1, "verb": "get", "generation": 9223372036854775808}', "generation"),
        ('{"span": 9223372036854775808, "start_ns": 1}', "span"),
    ],
)  # fmt: skip
def test_jsonl_integers_beyond_64_bits_are_refused_naming_line_and_field(
    tmp_path: Path, line: str, field: str
) -> None:
    source = tmp_path / "in.jsonl"
    header = '{"kreplay": "session", "version": 1, "session_id": "j"}'
    source.write_text(f"{header}\n{line}\n")
    with pytest.raises(InvalidInputError, match=rf"^line 2: '{field}' must be a 64-bit integer"):
        import_recording(str(source), str(tmp_path / "ours.db"), max_ops=100)
    assert not (tmp_path / "ours.db").exists()


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        ('{"id": "x"}', r"'seed' column 'id' must be an integer"),
        ('{"timestamp": 9223372036854775808}', r"'seed' column 'timestamp' must be text, a 64"),
    ],
)
def test_jsonl_seed_values_a_seed_export_could_not_write_are_refused(
    tmp_path: Path, seed: str, message: str
) -> None:
    source = tmp_path / "in.jsonl"
    header = '{"kreplay": "session", "version": 1, "session_id": "j"}'
    source.write_text(f'{header}\n{{"op": 1, "ts_ns": 1, "verb": "get", "seed": {seed}}}\n')
    with pytest.raises(InvalidInputError, match=rf"^line 2: {message}"):
        import_recording(str(source), str(tmp_path / "ours.db"), max_ops=100)


def test_a_value_sqlite_cannot_store_is_a_recording_error_and_nothing_is_written(
    memory_writer: RecordingWriter,
) -> None:
    memory_writer.begin_session(SessionInfo("s"))
    with pytest.raises(RecordingError, match=r"does not fit SQLite's 64-bit integers"):
        memory_writer.append([Operation("s", 0, 1 << 63, "get"), Operation("s", 0, 2, "get")])
    assert memory_writer.session_summary("s").op_count == 0
    assert memory_writer.append([Operation("s", 0, 3, "get")]).written == 1


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("409 Conflict: it was modified", (409, "Conflict", "it was modified")),
        ("404 NotFound", (404, "NotFound", "")),
        ("Operation cannot be fulfilled: conflict",
         (409, "", "Operation cannot be fulfilled: conflict")),
        ("500 internal: boom", (500, "", "500 internal: boom")),
    ],
)  # fmt: skip
def test_go_tool_error_text_gives_back_the_code_and_reason_a_seed_export_wrote(
    text: str, parts: tuple[int, str, str]
) -> None:
    assert parse_error_text(text) == parts


def test_every_odd_value_error_is_a_kreplay_error(tmp_path: Path) -> None:
    """What the CLI maps to exit code 2: no ValueError or OverflowError escapes."""
    for index, (column, value, _) in enumerate(ODD_OPERATION_VALUES):
        path = odd_seed_file(tmp_path / f"go{index}.db", column, value)
        with pytest.raises(KreplayError):
            read_session(path, "w")
