"""Several processes writing to one file at once lose nothing and duplicate nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from recorder.storage import open_recording
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
