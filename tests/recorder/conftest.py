"""Fixtures: the project's mock API server, a configured client, and recorders that close."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from kreplay_dap.apiserver import FakeBackend, RunningServer, start_server
from recorder import Recorder

client: Any = kubernetes.client


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with start_server(FakeBackend()) as running:
        yield running


@pytest.fixture
def configuration(server: RunningServer) -> Any:
    return client.Configuration(host=server.url)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "recordings.db")


@pytest.fixture
def make_recorder(db: str) -> Iterator[Callable[..., Recorder]]:
    made: list[Recorder] = []

    def make(session_id: str = "s1", path: str | None = None, **options: Any) -> Recorder:
        recorder = Recorder(path or db, session_id, actor="test-operator", **options)
        made.append(recorder)
        return recorder

    yield make
    for recorder in made:
        recorder.close()


@pytest.fixture
def recorded(make_recorder: Callable[..., Recorder], configuration: Any) -> tuple[Recorder, Any]:
    """A recorder and an ApiClient instrumented by it."""
    recorder = make_recorder()
    return recorder, recorder.instrument(client.ApiClient(configuration))
