"""``$REPLAY_MAX_OPS`` / ``--max-ops``: every command reads at most that many operations of a
session, as the Go tool's database did, and says so on stderr when the limit cuts one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.clirun import assert_one_line_error, run_script
from tests.storage.badfiles import real_recording
from tests.storage.seedfiles import write_seed_v2

LIMIT = "kreplay: limit: session 's1': stopped reading at the 10-operation limit"
TEN = {"REPLAY_MAX_OPS": "10"}


@pytest.fixture
def big(tmp_path: Path) -> Path:
    """Session s1 of 40 operations, numbered 1..40; s2 of one."""
    return real_recording(tmp_path / "big.db", ops=40)


def test_replay_prints_the_steps_under_the_limit_and_says_so(tmp_path: Path, big: Path) -> None:
    run = run_script(["replay", "s1", "-d", str(big)], tmp_path, env=TEN)
    assert run.code == 0, run.err
    assert [line.split()[0] for line in run.out.splitlines()] == [f"#{n}" for n in range(1, 11)]
    assert LIMIT in run.err
    flag = run_script(["replay", "s1", "-d", str(big), "--max-ops", "10"], tmp_path)
    assert flag.out == run.out and LIMIT in flag.err
    whole = run_script(["replay", "s1", "-d", str(big)], tmp_path)
    assert len(whole.out.splitlines()) == 40 and "limit" not in whole.err


def test_interactive_replay_stops_at_the_limit(tmp_path: Path, big: Path) -> None:
    keys = "g 9\nn\nn\ng 11\nq\n"
    run = run_script(["replay", "s1", "-d", str(big), "-i"], tmp_path, env=TEN, stdin=keys)
    assert run.code == 0, run.err
    answers = [line.removeprefix("> ") for line in run.out.splitlines()[2:]]
    assert answers[0].startswith("#9 ") and answers[1].startswith("#10 ")
    assert answers[2].startswith("end of the 10-operation limit (#10): #10 ")
    assert answers[3] == "error: step 11 is beyond the 10-operation limit (#1..#10)"


def test_analyze_reads_up_to_the_limit_and_says_so(tmp_path: Path, big: Path) -> None:
    run = run_script(["analyze", "s1", "-d", str(big), "--format", "json"], tmp_path, env=TEN)
    assert run.code == 0, run.err
    assert json.loads(run.out)["total_operations"] == 10
    assert LIMIT in run.err
    causality = run_script(["analyze", "causality", "s1", "-d", str(big)], tmp_path, env=TEN)
    assert causality.code == 0 and LIMIT in causality.err


def test_verify_checks_up_to_the_limit_and_says_so(tmp_path: Path, big: Path) -> None:
    run = run_script(["verify", str(big), "--format", "json"], tmp_path, env=TEN)
    assert run.code == 0, (run.out, run.err)  # a cut session is no summary mismatch
    payload = json.loads(run.out)
    assert payload["operations"] == 10 + 1
    assert payload["limits"] == [LIMIT.removeprefix("kreplay: limit: ")]
    assert LIMIT in run.err


@pytest.mark.parametrize("how", ["option", "variable"])
def test_sessions_reports_the_sessions_the_limit_cuts(tmp_path: Path, big: Path, how: str) -> None:
    args = ["sessions", "-d", str(big)] + (["--max-ops", "10"] if how == "option" else [])
    run = run_script(args, tmp_path, env=TEN if how == "variable" else None)
    assert run.code == 0, run.err
    assert run.err.splitlines() == [LIMIT]
    go = write_seed_v2(tmp_path / "go.db", {"s1": 30})
    seed = run_script(["sessions", "-d", str(go), "--max-ops", "10"], tmp_path)
    assert seed.err.splitlines() == [LIMIT]


def test_export_and_serve_honour_the_limit_too(tmp_path: Path, big: Path) -> None:
    run = run_script(["export", "s1", "-d", str(big)], tmp_path, env=TEN)
    assert run.code == 0 and LIMIT in run.err
    assert len(run.out.splitlines()) == 1 + 10
    serve = run_script(["serve", "s1", "-d", str(big), "--step", "11"], tmp_path, env=TEN)
    assert_one_line_error(serve, r"step 11 is beyond the 10-operation limit \(#1..#10")


def test_a_bad_limit_is_a_one_line_error_for_every_reading_command(
    tmp_path: Path, big: Path
) -> None:
    for args in (["replay", "s1"], ["analyze", "s1"], ["verify"], ["sessions"]):
        run = run_script([*args, "-d", str(big)], tmp_path, env={"REPLAY_MAX_OPS": "0"})
        assert_one_line_error(run, r"REPLAY_MAX_OPS must be a positive integer, not '0'")
