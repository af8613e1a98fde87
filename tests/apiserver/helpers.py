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


def custom_resource_definition(
    plural: str,
    kind: str,
    group: str = "example.com",
    versions: tuple[str, ...] = ("v1",),
    scope: str = "Namespaced",
    status_subresource: bool = False,
) -> dict[str, Any]:
    """A CRD whose first version is stored; its schema keeps every field (no pruning)."""
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    served = [
        {"name": v, "served": True, "storage": i == 0, "schema": schema}
        | ({"subresources": {"status": {}}} if status_subresource else {})
        for i, v in enumerate(versions)
    ]
    names = {"plural": plural, "singular": kind.lower(), "kind": kind}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": scope, "names": names, "versions": served},
    }


def stream_events(response: ApiResponse, wanted: int, max_chunks: int = 1_000) -> list[Any]:
    """Decode watch events until ``wanted`` arrived or the stream ended (its timeoutSeconds
    and ``max_chunks`` idle ticks bound the wait)."""
    assert response.stream is not None, response.body
    events: list[Any] = []
    for _chunk_index, chunk in zip(range(max_chunks), response.stream, strict=False):
        if chunk:
            events.extend(json.loads(line) for line in chunk.splitlines())
        if len(events) >= wanted:
            break
    close = getattr(response.stream, "close", None)
    if close is not None:
        close()
    return events


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


# A CRD schema that keeps whatever the objects hold: the server prunes fields a schema does not
# declare, so a bare {"type": "object"} would keep nothing but apiVersion, kind and metadata.
OPEN_SCHEMA = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
