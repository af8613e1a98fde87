"""``export --format seed`` without ``-o``: a file named safely after the session id, always
in the current directory. A session id is data: it never leads the output elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kreplay_dap.cli.cmd_export import default_seed_path
from tests.cli.clirun import assert_one_line_error, run_script

IDS = {
    "../escaped": "_escaped.db",
    "../../two-up": "_.._two-up.db",
    "/tmp/abs-kreplay": "_tmp_abs-kreplay.db",
    "team/prod-001": "team_prod-001.db",
    "win\\dows:c": "win_dows_c.db",
    "..": "session.db",
    ".hidden": "hidden.db",
    "s00000-ü v1.2": "s00000-ü_v1.2.db",
}


@pytest.mark.parametrize("session", sorted(IDS))
def test_default_seed_path_is_a_plain_file_name(session: str) -> None:
    name = default_seed_path(session)
    assert name == IDS[session]
    assert "/" not in name and "\\" not in name and not name.startswith(".")


def test_a_long_id_gives_a_name_a_file_system_takes() -> None:
    assert len(default_seed_path("x" * 10_000)) <= 255


def _recording_with(tmp_path: Path, sessions: list[str]) -> Path:
    lines = []
    for session in sessions:
        lines.append({"kreplay": "session", "version": 1, "session_id": session})
        lines.append({"op": 1, "ts_ns": 1, "verb": "get", "kind": "Pod"})
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    run = run_script(["import", str(source), "-d", str(tmp_path / "r.db"), "-q"], tmp_path)
    assert run.code == 0, run.err
    return tmp_path / "r.db"


def test_export_never_follows_a_session_id_out_of_the_current_directory(tmp_path: Path) -> None:
    database = _recording_with(tmp_path, ["../escaped", str(tmp_path / "abs"), "team/prod-001"])
    work = tmp_path / "work"
    work.mkdir()
    for session in ("../escaped", str(tmp_path / "abs"), "team/prod-001"):
        run = run_script(["export", session, "-d", str(database), "--format", "seed"], work)
        assert run.code == 0, run.err
        assert f"to {default_seed_path(session)} (seed)" in run.out
    assert sorted(entry.name for entry in work.iterdir()) == sorted(
        default_seed_path(session)
        for session in ("../escaped", str(tmp_path / "abs"), "team/prod-001")
    )
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["in.jsonl", "r.db", "work"]


def test_two_ids_with_one_safe_name_do_not_overwrite_each_other(tmp_path: Path) -> None:
    database = _recording_with(tmp_path, ["a/b", "a_b"])
    first = run_script(["export", "a/b", "-d", str(database), "--format", "seed"], tmp_path)
    assert first.code == 0, first.err
    second = run_script(["export", "a_b", "-d", str(database), "--format", "seed"], tmp_path)
    assert_one_line_error(second, r"a_b.db: already exists; choose another output path")
