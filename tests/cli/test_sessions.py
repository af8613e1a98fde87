"""``kreplay sessions`` on our files and on both of the Go tool's schemas, and its errors."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.clirun import assert_one_line_error, run_main, run_script
from tests.storage.badfiles import CASES, corrupt_pages, real_recording
from tests.storage.seedfiles import write_seed_v1, write_seed_v2


def ours(directory: Path) -> Path:
    return real_recording(directory / "ours.db", ops=40)


def seed_v1(directory: Path) -> Path:
    return write_seed_v1(directory / "v1.db", {"prod-1": 12, "prod-2": 3})


def seed_v2(directory: Path) -> Path:
    return write_seed_v2(directory / "v2.db", {"a": 9})


FILES: dict[str, tuple[Callable[[Path], Path], dict[str, int]]] = {
    "kreplay": (ours, {"s1": 40, "s2": 1}),
    "seed-v1": (seed_v1, {"prod-1": 12, "prod-2": 3}),
    "seed-v2": (seed_v2, {"a": 9}),
}


@pytest.mark.parametrize("flavor", sorted(FILES))
def test_sessions_table_through_the_console_script(tmp_path: Path, flavor: str) -> None:
    make, counts = FILES[flavor]
    path = make(tmp_path)
    run = run_script(["sessions", "-d", path.name], cwd=tmp_path)  # a short title: no wrap
    assert run.code == 0, run.err
    assert f"{path.name} ({flavor}): {len(counts)} session(s)" in run.out
    for session, count in counts.items():
        assert session in run.out and str(count) in run.out


@pytest.mark.parametrize("flavor", sorted(FILES))
def test_sessions_json_through_main(
    tmp_path: Path, flavor: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make, counts = FILES[flavor]
    path = make(tmp_path)
    run = run_main(["sessions", "-d", str(path), "--format", "json"], capsys, monkeypatch)
    assert run.code == 0, run.err
    payload = json.loads(run.out)
    assert payload["format"] == flavor
    assert {s["session_id"]: s["operations"] for s in payload["sessions"]} == counts
    first = payload["sessions"][0]
    assert first["start_ns"] <= first["end_ns"] and first["dropped"] == 0
    assert sum(first["actors"].values()) == first["operations"]


def test_the_database_comes_from_replay_db_path(tmp_path: Path) -> None:
    write_seed_v1(tmp_path / "elsewhere.db", {"env-session": 2})
    run = run_script(["sessions"], cwd=tmp_path, env={"REPLAY_DB_PATH": "elsewhere.db"})
    assert run.code == 0 and "env-session" in run.out
    real_recording(tmp_path / "recordings.db", ops=3)
    run = run_script(["sessions", "--format", "json"], cwd=tmp_path, env={"REPLAY_DB_PATH": ""})
    assert json.loads(run.out)["database"] == "recordings.db"


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_files_exit_2_with_one_line_via_the_console_script(tmp_path: Path, case: str) -> None:
    make, pattern = CASES[case]
    path = make(tmp_path)
    assert_one_line_error(run_script(["sessions", "-d", str(path)], cwd=tmp_path), pattern)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_files_exit_2_with_one_line_via_main(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make, pattern = CASES[case]
    run = run_main(["sessions", "-d", str(make(tmp_path))], capsys, monkeypatch)
    assert_one_line_error(run, pattern)


def test_corrupt_pages_found_while_reading_exit_2(tmp_path: Path) -> None:
    path = corrupt_pages(tmp_path)
    run = run_script(["export", "s1", "-d", str(path), "-o", str(tmp_path / "x.jsonl")], tmp_path)
    assert_one_line_error(run, r"corrupt")
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "x.jsonl.partial").exists()


def test_newer_schema_exits_2(tmp_path: Path) -> None:
    path = real_recording(tmp_path / "r.db", ops=2)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_migrations VALUES (42, 'future', 0)")
    conn.commit()
    conn.close()
    run = run_script(["sessions", "-d", str(path)], cwd=tmp_path)
    assert_one_line_error(run, r"format version 42 is newer than this kreplay supports")


def test_unknown_session_lists_existing_ones(tmp_path: Path) -> None:
    path = write_seed_v2(tmp_path / "v2.db", {"alpha": 2, "beta": 2})
    run = run_script(["export", "gamma", "-d", str(path)], cwd=tmp_path)
    assert_one_line_error(run, r"unknown session 'gamma'; sessions in this file: alpha, beta$")


def test_replay_max_ops_is_honoured_and_reported(tmp_path: Path) -> None:
    path = write_seed_v2(tmp_path / "v2.db", {"big": 30})
    run = run_script(["sessions", "-d", str(path), "--format", "json"], tmp_path,
                     env={"REPLAY_MAX_OPS": "10"})  # fmt: skip
    assert run.code == 0, run.err
    [session] = json.loads(run.out)["sessions"]
    assert (session["operations"], session["truncated"]) == (10, True)
    assert "kreplay: limit: session 'big': stopped reading at the 10-operation limit" in run.err
    bad = run_script(["sessions", "-d", str(path)], tmp_path, env={"REPLAY_MAX_OPS": "many"})
    assert_one_line_error(bad, r"REPLAY_MAX_OPS must be a positive integer, not 'many'")
