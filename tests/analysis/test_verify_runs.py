"""``verify`` checks what lookups by object, call site and verb/kind need: runs that list
every operation once (version 6), or the indexes of older files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kreplay_dap.analysis.verify import verify_recording
from recorder.errors import NotARecordingError
from recorder.storage import CallFrame, Operation, RecordingWriter, SessionInfo, open_recording
from tests.storage.downgrade import downgrade

SITE = (CallFrame("ctl/widget.py", 10, "reconcile"),)


def operation(n: int) -> Operation:
    return Operation(
        "s1", 0, n, "get", kind="Pod", namespace="ns", name=f"p{n % 4}", status_code=200,
        call_site=SITE if n % 2 else (),
    )  # fmt: skip


def recording(path: Path) -> Path:
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("s1"))
        for batch in range(3):
            ops = [operation(n) for n in range(batch * 10, batch * 10 + 10)]
            writer.append(ops)
    return path


def change(path: Path, statement: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(statement)
    conn.close()


def checks(path: Path) -> dict[str, list[str]]:
    return {p.check: p.examples for p in verify_recording(str(path)).problems}


def test_a_written_file_and_its_older_form_verify_clean(tmp_path: Path) -> None:
    path = recording(tmp_path / "r.db")
    assert checks(path) == {}
    downgrade(path, 5)
    assert checks(path) == {}


def test_runs_that_miss_operations_are_reported(tmp_path: Path) -> None:
    path = recording(tmp_path / "r.db")
    change(
        path, "DELETE FROM object_runs WHERE first_seq = (SELECT MAX(first_seq) FROM object_runs)"
    )
    found = checks(path)
    assert list(found) == ["runs-mismatch"]
    assert found["runs-mismatch"][0].startswith("object_runs lists ")
    assert found["runs-mismatch"][0].endswith("where ops has 30")


def test_a_missing_run_table_or_older_index_is_reported(tmp_path: Path) -> None:
    path = recording(tmp_path / "r.db")
    change(path, "DROP TABLE callsite_runs")
    assert checks(path) == {"missing-table": ["callsite_runs"]}
    older = recording(tmp_path / "old.db")
    downgrade(older, 5)
    change(older, "DROP INDEX ops_by_object")
    assert checks(older) == {"missing-index": ["ops_by_object"]}


def test_a_damaged_run_is_a_one_line_error_for_readers_and_a_problem_for_verify(
    tmp_path: Path,
) -> None:
    path = recording(tmp_path / "r.db")
    change(
        path, "UPDATE object_runs SET seqs = '[1,2' WHERE id = (SELECT MIN(id) FROM object_runs)"
    )
    opened = open_recording(str(path))
    with pytest.raises(NotARecordingError, match=r"corrupt recording .*malformed JSON"):
        for ref in list(opened.objects("s1")):
            list(opened.object_operations("s1", ref))
    opened.close()
    found = checks(path)
    assert "sqlite-integrity" in found
    assert any("malformed JSON" in example for example in found["sqlite-integrity"])
