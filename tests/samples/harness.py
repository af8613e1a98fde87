"""Run a sample operator as a real subprocess against the in-process mock API server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from kreplay_dap.apiserver import FakeBackend, RunningServer, start_server
from kreplay_dap.demo import WidgetObserver, api_client_for

REPO_ROOT = Path(__file__).resolve().parents[2]
WIDGETS = ("demo.kreplay.dev", "v1", "default", "widgets")
EXIT_TIMEOUT = 120


@dataclass
class Cluster:
    server: RunningServer
    kubeconfig: str
    api: client.ApiClient

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def env(self) -> dict[str, str]:
        python_path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
        return dict(os.environ, KUBECONFIG=self.kubeconfig, PYTHONPATH=python_path)

    def start(self, *args: str, module: bool = False) -> subprocess.Popen[str]:
        """Start an operator: ``args[0]`` is its name; module=True runs it with ``-m``."""
        name, rest = args[0], list(args[1:])
        target = (
            ["-m", f"samples.operators.{name}"]
            if module
            else [str(REPO_ROOT / "samples" / "operators" / f"{name}.py")]
        )
        return subprocess.Popen(
            [sys.executable, *target, *rest], cwd=REPO_ROOT, env=self.env(),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    def observer(self, process: subprocess.Popen[str], name: str = "web") -> WidgetObserver:
        from kreplay_dap.demo import SampleRun

        def alive() -> None:
            code = process.poll()
            if code is not None:
                output = process.stdout.read() if process.stdout else ""
                raise AssertionError(f"operator exited early ({code}):\n{output}")

        return WidgetObserver(self.api, SampleRun("hotloop", False, "test"), name, alive)

    def widget(self, name: str = "web") -> dict[str, Any]:
        found = self.custom.get_namespaced_custom_object(*WIDGETS, name)
        assert isinstance(found, dict)
        return found


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Wait (bounded) for the operator to exit on its own; kill it on timeout."""
    try:
        output, _ = process.communicate(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"operator did not exit:\n{output}") from None
    return process.returncode, output


@pytest.fixture(name="cluster")
def cluster_fixture(tmp_path: Path) -> Iterator[Cluster]:
    """A fresh in-memory cluster per test (import this fixture into the test module)."""
    with start_server(FakeBackend()) as server:
        kubeconfig = server.write_kubeconfig(str(tmp_path / "kubeconfig"))
        api = api_client_for(kubeconfig)
        try:
            yield Cluster(server, kubeconfig, api)
        finally:
            api.close()  # type: ignore[no-untyped-call]
