"""Odd but SQLite-legal input, bad thresholds and failed imports, through the real CLI.

Every command answers a value it cannot use with one line on stderr and exit code 2 (verify
reads such files and flags the values: exit 1); nothing prints a traceback; the input is
never modified and a failed import leaves no new file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.clirun import assert_one_line_error, run_script
from tests.storage.badfiles import real_recording
from tests.storage.test_odd_values import odd_seed_file

READERS = [
    ["sessions"],
    ["replay", "w"],
    ["analyze", "w"],
    ["analyze", "causality", "w"],
    ["export", "w", "-o", "-"],
]
ODD = [
    ("timestamp", "2024-01-01T00:00:00Z", r"timestamp '2024-01-01T00:00:00Z' is not a number"),
    ("timestamp", 1_700_000_000_123, r"timestamp 1700000000123 is not a number of Unix seconds"),
    ("sequence_number", "two", r"sequence_number 'two' is not an integer"),
    ("duration_ms", "12ms", r"duration_ms '12ms' is not a number"),
    ("generation", "gen", r"generation 'gen' is not an integer"),
]


@pytest.mark.parametrize(("column", "value", "message"), ODD)
def test_read_commands_refuse_go_values_they_cannot_use_with_one_line(
    tmp_path: Path, column: str, value: Any, message: str
) -> None:
    path = odd_seed_file(tmp_path / "go.db", column, value)
    before = path.read_bytes()
    for args in READERS:
        run = run_script([*args, "-d", str(path)], tmp_path)
        if args == ["sessions"] and column in {"duration_ms", "generation"}:
            assert run.code == 0, run.err  # the summary does not read these columns
            continue
        assert_one_line_error(run, message)
    assert path.read_bytes() == before


@pytest.mark.parametrize(("column", "value", "message"), ODD)
def test_verify_reads_the_file_and_flags_the_values(
    tmp_path: Path, column: str, value: Any, message: str
) -> None:
    path = odd_seed_file(tmp_path / "go.db", column, value)
    run = run_script(["verify", str(path), "--format", "json"], tmp_path)
    assert run.code == 1, run.err
    assert "Traceback" not in run.err
    problems = {p["check"]: p["examples"] for p in json.loads(run.out)["problems"]}
    flagged = problems.get("bad-type", []) + problems.get("bad-value", [])
    assert any(example.startswith(f"operations.{column}:") for example in flagged), problems
    assert "unreadable" in problems


def test_a_millisecond_timestamp_is_a_one_line_error_for_import_and_sessions(
    tmp_path: Path,
) -> None:
    path = odd_seed_file(tmp_path / "go.db", "timestamp", 1_700_000_000_123)
    run = run_script(["import", str(path), "-d", "ours.db"], tmp_path)
    assert_one_line_error(run, r"operations row 2 .*timestamp 1700000000123 is out of range")
    assert not (tmp_path / "ours.db").exists()
    assert_one_line_error(run_script(["sessions", "-d", str(path)], tmp_path), r"Unix seconds")


@pytest.mark.parametrize("field", ["op", "ts_ns", "duration_us", "generation", "span"])
def test_jsonl_integers_of_2_63_or_more_are_one_line_errors(tmp_path: Path, field: str) -> None:
    line: dict[str, int | str] = {"op": 1, "ts_ns": 1, "verb": "get"}
    if field == "span":
        line = {"span": 1, "start_ns": 1}
    line[field] = 1 << 63
    header = {"kreplay": "session", "version": 1, "session_id": "j"}
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(header) + "\n" + json.dumps(line) + "\n")
    run = run_script(["import", str(source), "-d", "ours.db"], tmp_path)
    assert_one_line_error(run, rf"line 2: '{field}' must be a 64-bit integer")
    assert not (tmp_path / "ours.db").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0"])
def test_analyze_refuses_a_threshold_that_is_not_a_finite_number(
    tmp_path: Path, value: str
) -> None:
    path = real_recording(tmp_path / "r.db", ops=5)
    option = run_script(["analyze", "s1", "-d", str(path), "--threshold", value], tmp_path)
    assert_one_line_error(option, rf"--threshold must be a number of milliseconds .* not '{value}")
    env = run_script(["analyze", "s1", "-d", str(path)], tmp_path,
                     env={"REPLAY_SLOW_THRESHOLD": value})  # fmt: skip
    assert_one_line_error(env, rf"REPLAY_SLOW_THRESHOLD must be a number .* not '{value}'")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("garbage.bin", b"\xd1\x00\xff binary\n" * 100, r"line 1: not JSON"),
        ("bad.jsonl", b"not json\n", r"line 1: not JSON"),
        ("late.jsonl", b'{"kreplay":"session","version":1,"session_id":"s"}\n{"op":"x"}\n',
         r"line 2: 'op' must be an integer"),
    ],
)  # fmt: skip
def test_a_failed_import_leaves_no_new_recording(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(content)
    run = run_script(["import", name, "-d", "out.db"], tmp_path)
    assert_one_line_error(run, message)
    assert sorted(entry.name for entry in tmp_path.iterdir()) == [name]
