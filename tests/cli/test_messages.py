"""What the commands print: error labels, summaries, one-line errors, search that wraps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recorder.storage import Operation, RecordingWriter, SessionInfo
from tests.cli.clirun import assert_one_line_error, run_script
from tests.storage.seedfiles import write_seed_v1_rows


def errors_recording(path: Path) -> Path:
    """Session s: a create, a 409 Conflict, a 404 NotFound, a delete (seq 1..4)."""
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("s", started_ns=1))
        writer.append([
            Operation("s", 0, 1000, "create", kind="ConfigMap", namespace="d", name="a",
                      status_code=201, actor="x"),
            Operation("s", 0, 2000, "update", kind="ConfigMap", namespace="d", name="a",
                      status_code=409, error_code=409, error_reason="Conflict",
                      error_message="the object has been modified", actor="x"),
            Operation("s", 0, 3000, "get", kind="ConfigMap", namespace="d", name="b",
                      status_code=404, error_code=404, error_reason="NotFound",
                      error_message='configmaps "b" not found', actor="x"),
            Operation("s", 0, 4000, "delete", kind="ConfigMap", namespace="d", name="a",
                      status_code=200, actor="x"),
        ])  # fmt: skip
    return path


def test_analyze_labels_the_go_tools_errors_once(tmp_path: Path) -> None:
    ours = errors_recording(tmp_path / "ours.db")
    exported = run_script(["export", "s", "-d", str(ours), "--format", "seed", "-o", "go.db"],
                          tmp_path)  # fmt: skip
    assert exported.code == 0, exported.err
    for path in (ours, tmp_path / "go.db"):
        run = run_script(["analyze", "s", "-d", str(path)], tmp_path)
        assert run.code == 0, run.err
        assert "errors: 409 Conflict x1, 404 NotFound x1" in run.out, run.out
        assert "409 409" not in run.out


def test_analyze_no_errors_prints_no_errors_summary(tmp_path: Path) -> None:
    path = errors_recording(tmp_path / "ours.db")
    run = run_script(["analyze", "s", "-d", str(path), "--no-errors"], tmp_path)
    assert run.code == 0, run.err
    assert "errors:" not in run.out and "error(s)" not in run.out
    assert "errors: 409 Conflict x1" in run_script(["analyze", "s", "-d", str(path)], tmp_path).out


@pytest.mark.parametrize("step", ["5", "999"])
def test_serve_refuses_a_step_beyond_the_session(tmp_path: Path, step: str) -> None:
    path = errors_recording(tmp_path / "ours.db")
    run = run_script(["serve", "s", "-d", str(path), "--step", step], tmp_path)
    assert_one_line_error(run, rf"step {step} is outside the session \(#1..#4; 0 is before")


def test_serve_load_reports_bad_yaml_on_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  x: [a\n")
    run = run_script(["serve", "--load", "bad.yaml"], tmp_path)
    assert_one_line_error(run, r"bad.yaml: not valid YAML or JSON: .*line \d+, column \d+")


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["export", "s", "-o", "taken.jsonl"], r"taken.jsonl: already exists"),
        (["export", "s", "--format", "seed", "-o", "gone/s.db"], r"gone/s.db: no such folder"),
        (["import", "taken.jsonl"], r"line 1: not JSON"),
    ],
)
def test_output_path_and_import_errors_are_the_only_line_on_stderr(
    tmp_path: Path, args: list[str], pattern: str
) -> None:
    errors_recording(tmp_path / "ours.db")
    (tmp_path / "taken.jsonl").write_text("taken\n")
    run = run_script([*args, "-d", "ours.db"], tmp_path)
    assert_one_line_error(run, pattern)
    assert run.err.startswith("kreplay: error: ")  # no blank line from a progress display


def test_import_summarises_many_sessions(tmp_path: Path) -> None:
    rows = [(f"s{n:02}", 1, 100, "GET", "Pod", "ns", "p", "{}", None, 1) for n in range(12)]
    source = write_seed_v1_rows(tmp_path / "go.db", rows)
    run = run_script(["import", str(source), "-d", "ours.db"], tmp_path)
    assert run.code == 0, run.err
    assert run.out.rstrip().endswith(
        ": s00, s01, s02, s03, s04 (+7 more; kreplay sessions lists them)"
    )
    assert "in 12 session(s)" in run.out and "s11" not in run.out


def test_interactive_search_wraps_round_and_says_so(tmp_path: Path) -> None:
    path = errors_recording(tmp_path / "ours.db")
    keys = "g 3\n/create\n/verb=delete\n/verb=delete\n/verb=watch\nq\n"
    run = run_script(["replay", "s", "-d", str(path), "-i"], tmp_path, stdin=keys)
    assert run.code == 0, run.err
    answers = [line.removeprefix("> ") for line in run.out.splitlines()[2:]]
    assert answers[1].startswith("search wrapped round to the start: #1 create ConfigMap")
    assert answers[2].startswith("#4 delete ConfigMap")
    assert answers[3].startswith("search wrapped round: this step is the only match: #4 ")
    assert answers[4] == "no match (searched the whole session, wrapping round)"


def test_verify_json_lists_no_limits_when_none_was_hit(tmp_path: Path) -> None:
    path = errors_recording(tmp_path / "ours.db")
    run = run_script(["verify", str(path), "--format", "json"], tmp_path)
    assert run.code == 0 and json.loads(run.out)["limits"] == []
