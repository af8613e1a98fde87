"""Fixtures: a running mock API server on 127.0.0.1:0 and a kubeconfig pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kreplay_dap.apiserver import FakeBackend, RunningServer, start_server


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with start_server(FakeBackend()) as running:
        yield running


@pytest.fixture
def kubeconfig(server: RunningServer, tmp_path: Path) -> str:
    return server.write_kubeconfig(str(tmp_path / "kubeconfig"))
