"""The engine over a file in the Go tool's first schema: no kreplay indexes, so every
search takes the protocol fallback (streamed, cancellable)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kreplay_dap.replay.breakpoints import Breakpoint, DataWatch, parse_function_pattern
from kreplay_dap.replay.engine import ReplayEngine
from kreplay_dap.replay.loops import LoopOptions, detect_loops
from recorder.storage import ObjectRef, open_recording
from recorder.storage.seed import SEED_V1_DDL, split_statements

INSERT = (
    "INSERT INTO operations (session_id, sequence_number, timestamp, operation_type,"
    " resource_kind, namespace, name, resource_data, error, duration_ms)"
    " VALUES (?,?,?,?,?,?,?,?,?,?)"
)


def deployment(rv: int, replicas: int) -> str:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "resourceVersion": str(rv)},
            "spec": {"replicas": replicas},
            "status": {"observed": rv},
        }
    )


@pytest.fixture(scope="module")
def seed_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seed") / "seed.db"
    conn = sqlite3.connect(path)
    for statement in split_statements(SEED_V1_DDL):
        conn.execute(statement)
    rows: list[tuple[Any, ...]] = [
        ("s", 1, 100, "CREATE", "Deployment", "default", "web", deployment(1, 1), None, 3)
    ]
    for seq in range(2, 9):  # status-only updates: a loop
        rows.append(
            (
                "s",
                seq,
                100 + seq,
                "UPDATE",
                "Deployment",
                "default",
                "web",
                deployment(seq, 1),
                None,
                3,
            )
        )
    rows.append(("s", 9, 110, "UPDATE", "Deployment", "default", "web", deployment(9, 4), None, 3))
    rows.append(("s", 10, 111, "DELETE", "Pod", "default", "old", None, None, 2))
    rows.append(("s", 11, 112, "GET", "Deployment", "default", "web", None, "conflict 409", 1))
    conn.executemany(INSERT, rows)
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def engine(seed_file: Path) -> Iterator[ReplayEngine]:
    recording = open_recording(str(seed_file))
    yield ReplayEngine(recording, "s")
    recording.close()


def test_fallback_searches_step_and_find(engine: ReplayEngine) -> None:
    assert not engine.queries.indexed
    assert engine.step(True).seq == 2
    assert engine.find("delete Pod/*") == 10
    engine.set_breakpoints(
        "f", [Breakpoint(1, "function", "x", op_filter=parse_function_pattern("Deployment/web"))]
    )
    engine.seek(9)
    assert engine.run(False).seq == 8


def test_fallback_data_breakpoint_and_cluster(engine: ReplayEngine) -> None:
    watch = DataWatch(ObjectRef("Deployment", "default", "web"), ("spec", "replicas"))
    engine.set_breakpoints("data", [Breakpoint(2, "data", "replicas", watch=watch)])
    assert engine.run(True).seq == 9
    assert engine.run(False).seq == 1
    assert [r.name for r in engine.cluster.at(5)["Deployment"]["default"]] == ["web"]


def test_fallback_loop_detection(engine: ReplayEngine) -> None:
    (loop,) = detect_loops(engine.recording, "s", LoopOptions(min_repeats=5))
    assert loop.evidence == [2, 3, 4, 5, 6, 7, 8]
