"""``kreplay import`` and ``kreplay export`` through the console script and ``main()``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from recorder.storage import open_recording
from recorder.storage.importer import import_recording
from tests.cli.clirun import assert_one_line_error, run_main, run_script
from tests.storage.seedfiles import all_rows, write_seed_v1, write_seed_v2


def test_import_seed_v2_then_export_seed_gives_back_every_row(tmp_path: Path) -> None:
    source = write_seed_v2(tmp_path / "v2.db", {"alpha": 70, "beta": 30}, interleave=True)
    run = run_script(["import", str(source), "-d", "ours.db"], cwd=tmp_path)
    assert run.code == 0, run.err
    assert "imported 100 operations and 10 spans in 2 session(s) from seed-v2" in run.out
    for session in ("alpha", "beta"):
        out = tmp_path / f"{session}-seed.db"
        run = run_script(
            ["export", session, "-d", "ours.db", "--format", "seed", "-o", str(out)], tmp_path
        )
        assert run.code == 0, run.err
        assert f"to {out} (seed)" in run.out
        for table in ("operations", "reconcile_spans"):
            expected = [row for row in all_rows(source, table) if row["session_id"] == session]
            assert all_rows(out, table) == expected
        assert open_recording(str(out)).flavor == "seed-v2"


def test_export_jsonl_to_stdout_and_import_it_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_seed_v1(tmp_path / "v1.db", {"old": 25})
    assert run_main(["import", str(source), "-d", str(tmp_path / "a.db"), "-q"],
                    capsys, monkeypatch).code == 0  # fmt: skip
    run = run_main(["export", "old", "-d", str(tmp_path / "a.db")], capsys, monkeypatch)
    assert run.code == 0, run.err
    lines = [json.loads(line) for line in run.out.splitlines()]
    assert lines[0]["kreplay"] == "session" and lines[0]["session_id"] == "old"
    assert [line["op"] for line in lines[1:]] == list(range(1, 26))
    exported = tmp_path / "old.jsonl"
    exported.write_text(run.out)
    run = run_main(["import", str(exported), "-d", str(tmp_path / "b.db")], capsys, monkeypatch)
    assert run.code == 0 and "from jsonl" in run.out
    again = run_main(["export", "old", "-d", str(tmp_path / "b.db")], capsys, monkeypatch)
    assert again.out == exported.read_text()


def test_export_jsonl_to_a_file_and_default_seed_name(tmp_path: Path) -> None:
    write_seed_v2(tmp_path / "v2.db", {"s": 5})
    run = run_script(["export", "s", "-d", "v2.db", "-o", "s.jsonl"], tmp_path)
    assert run.code == 0, run.err
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 1 + 5 + 5
    run = run_script(["export", "s", "-d", "v2.db", "--format", "seed"], tmp_path)
    assert run.code == 0 and (tmp_path / "s.db").is_file()
    assert len(all_rows(tmp_path / "s.db", "operations")) == 5


def test_import_reports_operations_over_replay_max_ops(tmp_path: Path) -> None:
    source = write_seed_v2(tmp_path / "v2.db", {"big": 40})
    run = run_script(["import", str(source), "-d", "ours.db"], tmp_path,
                     env={"REPLAY_MAX_OPS": "15"})  # fmt: skip
    assert run.code == 0, run.err
    assert "imported 15 operations" in run.out
    assert "over the per-session limit, not imported: 25 operations" in run.out
    info = open_recording(str(tmp_path / "ours.db")).session("big")
    assert (info.op_count, info.truncated) == (15, True)


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["import", "missing.db", "-d", "ours.db"], r"missing.db: no such file to import"),
        (["import", "notes.txt", "-d", "ours.db"], r"line 1: not JSON"),
        (["import", "v2.db", "-d", "v2.db"], r"the source and the destination are the same"),
        (["import", "v2.db", "-d", "ours.db", "--max-ops", "0"], r"--max-ops must be a positive"),
        (["export", "s", "-d", "v2.db", "--format", "seed", "-o", "-"], r"give -o PATH"),
        (["export", "s", "-d", "v2.db", "-o", "notes.txt"], r"notes.txt: already exists"),
        (["export", "nope", "-d", "v2.db"], r"unknown session 'nope'; sessions in this file: s$"),
        (["export", "s", "-d", "v2.db", "--format", "xml"], r"Invalid value for '--format'"),
        (["import", "v2.db", "-d", "gone/ours.db"], r"ours.db: cannot open for writing \(no such"),
        (["import", "v2.db", "-d", "."], r"\.: cannot open for writing"),
        (["export", "s", "-d", "v2.db", "--format", "seed", "-o", "gone/s.db"], r"no such folder"),
        (["export", "s", "-d", "v2.db", "-o", "gone/s.jsonl"], r"gone/s.jsonl: no such folder"),
    ],
)
def test_bad_import_and_export_requests_exit_2(
    tmp_path: Path,
    args: list[str],
    pattern: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_seed_v2(tmp_path / "v2.db", {"s": 3})
    (tmp_path / "notes.txt").write_text("not a recording\n")
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(run_main(args, capsys, monkeypatch), pattern)


def test_import_from_a_foreign_sqlite_file_exits_2(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE operations (id INTEGER PRIMARY KEY, what TEXT)")
    conn.commit()
    conn.close()
    run = run_script(["import", str(foreign), "-d", "ours.db"], tmp_path)
    assert_one_line_error(run, r"not a replay-cli recording")


def test_import_progress_is_reported_up_to_the_total(tmp_path: Path) -> None:
    source = write_seed_v2(tmp_path / "v2.db", {"a": 45_000})
    seen: list[tuple[int, int]] = []
    import_recording(str(source), str(tmp_path / "ours.db"), max_ops=10**6,
                     progress=lambda done, total: seen.append((done, total)))  # fmt: skip
    assert [done for done, _ in seen] == [20_000, 40_000, 45_000]
    assert {total for _, total in seen} == {45_000}
