"""Shared fixtures: an in-memory recording database and small recordings on disk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from recorder.storage import Operation, RecordingWriter, SessionInfo

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture
def memory_writer() -> Iterator[RecordingWriter]:
    """A writer over an in-memory SQLite database, migrated to the current schema."""
    writer = RecordingWriter(":memory:")
    yield writer
    writer.close()


def deployment(name: str, rv: int, replicas: int, namespace: str = "default") -> bytes:
    """A realistic Deployment body as JSON bytes."""
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "resourceVersion": str(rv),
            "generation": replicas,
            "labels": {"app": name},
        },
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}},
        "status": {"replicas": replicas, "readyReplicas": replicas},
    }
    return json.dumps(body).encode()


@pytest.fixture
def small_recording(tmp_path: Path) -> Path:
    """A file with one session of 20 operations on two Deployments."""
    path = tmp_path / "small.db"
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("s1", operator="widget-operator"))
        ops = [
            Operation(
                "s1",
                0,
                1_000_000_000 + i * 1_000_000,
                "update" if i % 2 else "get",
                api_version="apps/v1",
                kind="Deployment",
                resource="deployments",
                namespace="default",
                name=f"web-{i % 2}",
                resource_version=str(100 + i),
                response_body=deployment(f"web-{i % 2}", 100 + i, i),
                actor="widget-controller",
                status_code=200,
            )
            for i in range(20)
        ]
        writer.append(ops)
        writer.end_session("s1")
    return path
