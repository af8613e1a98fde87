"""Several processes writing to one file at once lose nothing and duplicate nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from recorder.storage import ObjectRef, open_recording
from tests.conftest import REPO_ROOT
from tests.storage.write_worker import BATCH

BATCHES = 12


def start(path: Path, session: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.storage.write_worker", str(path), session, str(BATCHES)],
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
    )


def test_concurrent_writer_processes_keep_every_session_and_operation(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    # Four sessions in four processes, and two processes appending to one shared session.
    names = ["alpha", "beta", "gamma", "delta", "shared", "shared"]
    workers = [start(path, name) for name in names]
    for worker in workers:
        _, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stderr.decode()
    recording = open_recording(str(path))
    sessions = {info.session_id: info for info in recording.sessions()}
    assert sorted(sessions) == ["alpha", "beta", "delta", "gamma", "shared"]
    for name in ("alpha", "beta", "gamma", "delta"):
        assert sessions[name].op_count == BATCHES * BATCH
    assert sessions["shared"].op_count == 2 * BATCHES * BATCH
    seqs = [op.seq for op in recording.operations("shared")]
    assert seqs == list(range(1, 2 * BATCHES * BATCH + 1))  # no gap, no duplicate
    connection = recording.connection  # type: ignore[attr-defined]
    # Every process wrote the same 50 bodies: content addressing kept one copy of each.
    distinct = connection.execute("SELECT COUNT(*) FROM blobs").fetchone()[0]
    assert distinct <= 50
    versions = connection.execute("SELECT version FROM schema_migrations").fetchall()
    assert len(versions) == len({row[0] for row in versions})
    for op in recording.operations("alpha", 1, 60):
        assert recording.body_json(op.response_ref)["metadata"]["namespace"] == "shared"
    # Runs list every operation once, and one key's runs never overlap, even with two
    # processes appending to one session (recorder/storage/runs.py relies on both).
    total = sum(info.op_count for info in sessions.values())
    for table, key in (("object_runs", "object_id"), ("verb_kind_runs", "session, verb, kind")):
        listed = connection.execute(f"SELECT SUM(json_array_length(seqs)) FROM {table}")
        assert listed.fetchone()[0] == total
        overlapping = connection.execute(
            f"SELECT COUNT(*) FROM (SELECT first_seq, LAG(last_seq) OVER (PARTITION BY {key}"
            f" ORDER BY first_seq) AS previous FROM {table}) WHERE previous >= first_seq"
        )
        assert overlapping.fetchone()[0] == 0
    web = ObjectRef("Deployment", "shared", "web-0")
    walked = [op.seq for op in recording.operations("shared") if op.name == "web-0"]
    assert [op.seq for op in recording.object_operations("shared", web)] == walked
