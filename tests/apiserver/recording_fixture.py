"""A small recording written with the real ``RecordingWriter``, for the replay tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recorder.storage import Operation, RecordingWriter, SessionInfo

SESSION = "s1"


def _deployment(rv: int, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "uid-web",
                     "resourceVersion": str(rv), "generation": replicas,
                     "creationTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }  # fmt: skip


def _configmap(name: str, rv: int, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                     "resourceVersion": str(rv), "creationTimestamp": "2024-01-01T00:00:00Z"},
        "data": {"v": value},
    }  # fmt: skip


WIDGET = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {"name": "w", "namespace": "default", "uid": "uid-w", "resourceVersion": "12"},
    "spec": {"size": 3},
}


def _op(verb: str, kind: str, name: str, body: Any, **extra: Any) -> Operation:
    api_version = body.get("apiVersion", "v1") if isinstance(body, dict) else "v1"
    resource = {"Deployment": "deployments", "ConfigMap": "configmaps", "Widget": "widgets"}[kind]
    return Operation(
        SESSION, 0, 0, verb, api_version=api_version, kind=kind, resource=resource,
        namespace="default", name=name, response_body=json.dumps(body).encode(),
        status_code=201 if verb == "create" else 200, **extra,
    )  # fmt: skip


def operations() -> list[Operation]:
    item = {k: v for k, v in _deployment(10, 1).items() if k != "kind"}
    deployment_list = {
        "apiVersion": "apps/v1",
        "kind": "DeploymentList",
        "metadata": {},
        "items": [item],
    }
    ops = [
        _op("list", "Deployment", "", deployment_list),  # 1
        _op("watch", "ConfigMap", "cfg", _configmap("cfg", 11, "1"), event_type="ADDED"),  # 2
        _op("get", "Widget", "w", WIDGET),  # 3
        _op("update", "Deployment", "web", _deployment(13, 2)),  # 4
        _op("watch", "Deployment", "web", _deployment(13, 2), event_type="MODIFIED"),  # 5
        _op("watch", "ConfigMap", "cfg", _configmap("cfg", 14, "2"), event_type="MODIFIED"),  # 6
        _op("create", "ConfigMap", "out", _configmap("out", 15, "x")),  # 7
        _op("watch", "ConfigMap", "out", _configmap("out", 15, "x"), event_type="ADDED"),  # 8
        _op("delete", "ConfigMap", "cfg", _configmap("cfg", 16, "2")),  # 9
        _op("watch", "ConfigMap", "cfg", _configmap("cfg", 16, "2"), event_type="DELETED"),  # 10
    ]
    for index, op in enumerate(ops):
        op.ts_ns = 1_700_000_000_000_000_000 + index * 1_000_000
    return ops


# What the cluster looked like as of each step: configmaps (name -> v), replicas of "web".
EXPECTED_AT_STEP: dict[int, tuple[dict[str, str], int | None]] = {
    0: ({}, None),
    1: ({}, 1),
    2: ({"cfg": "1"}, 1),
    4: ({"cfg": "1"}, 2),
    6: ({"cfg": "2"}, 2),
    8: ({"cfg": "2", "out": "x"}, 2),
    10: ({"out": "x"}, 2),
}


def write_recording(path: Path) -> str:
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo(SESSION, operator="sample-operator"))
        writer.append(operations())
        writer.end_session(SESSION)
    return str(path)
