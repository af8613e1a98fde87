"""Fixtures: the resolver alone, a running mock API server on 127.0.0.1:0, a kubeconfig
pointing at it, and the official client configured from that kubeconfig."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from kreplay_dap.apiserver import ApiServer, FakeBackend, RunningServer, start_server

client: Any = kubernetes.client
config: Any = kubernetes.config


@pytest.fixture
def api() -> ApiServer:
    """The resolver over an empty in-memory cluster, no sockets (a module may override it)."""
    return ApiServer(FakeBackend())


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with start_server(FakeBackend()) as running:
        yield running


@pytest.fixture
def kubeconfig(server: RunningServer, tmp_path: Path) -> str:
    return server.write_kubeconfig(str(tmp_path / "kubeconfig"))


@pytest.fixture
def api_client(kubeconfig: str) -> Iterator[Any]:
    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    with client.ApiClient(configuration) as opened:
        yield opened
