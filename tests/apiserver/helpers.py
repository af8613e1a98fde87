"""Shared helpers for the API server tests: resolver calls without sockets, kubectl runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from kreplay_dap.apiserver import ApiRequest, ApiResponse, ApiServer

KUBECTL = "kubectl"
KUBECTL_DEADLINE_SECONDS = 60


def call(
    api: ApiServer,
    method: str,
    target: str,
    body: Any = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> ApiResponse:
    raw = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
    all_headers = {"Content-Type": content_type, **(headers or {})}
    return api.handle(ApiRequest.from_target(method, target, all_headers, raw))


def configmap(
    name: str, namespace: str = "", labels: dict[str, str] | None = None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": "v"}}


def deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    container = {"name": "main", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
                 "env": [{"name": "A", "value": "1"}]}  # fmt: skip
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def kubectl_command(kubeconfig: str, *args: str) -> list[str]:
    """kubectl with a discovery cache of this test's own.

    kubectl caches discovery per host:port for hours; servers in other tests reuse ports, so the
    shared ``~/.kube/cache`` would answer with another server's resource types.
    """
    cache = Path(kubeconfig).parent / "kubectl-cache"
    return [KUBECTL, "--kubeconfig", kubeconfig, "--cache-dir", str(cache), *args]


def kubectl(kubeconfig: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        kubectl_command(kubeconfig, *args),
        capture_output=True,
        text=True,
        timeout=KUBECTL_DEADLINE_SECONDS,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result
