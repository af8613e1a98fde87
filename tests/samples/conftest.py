"""Fixtures of the sample tests: a fresh in-memory cluster per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kreplay_dap.apiserver import FakeBackend, start_server
from kreplay_dap.demo import api_client_for
from tests.samples.harness import Cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with start_server(FakeBackend()) as server:
        kubeconfig = server.write_kubeconfig(str(tmp_path / "kubeconfig"))
        api = api_client_for(kubeconfig)
        try:
            yield Cluster(server, kubeconfig, api)
        finally:
            api.close()  # type: ignore[no-untyped-call]
