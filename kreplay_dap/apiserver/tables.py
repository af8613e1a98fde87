"""``meta.k8s.io/v1`` Table output, which kubectl asks for when it prints objects."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kreplay_dap.apiserver.kinds import KindInfo

Cell = Callable[[dict[str, Any]], Any]
TABLE_ACCEPT_MARK = "as=table"


def wants_table(accept: str) -> bool:
    first = accept.lower().split(",")[0]
    return TABLE_ACCEPT_MARK in first.replace(" ", "")


def _age(obj: dict[str, Any]) -> str:
    created = (obj.get("metadata") or {}).get("creationTimestamp")
    if not isinstance(created, str):
        return "<unknown>"
    try:
        then = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    seconds = max(0, int((datetime.now(UTC) - then).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _field(*path: str, default: Any = 0) -> Cell:
    def get(obj: dict[str, Any]) -> Any:
        current: Any = obj
        for part in path:
            current = current.get(part) if isinstance(current, dict) else None
        return default if current is None else current

    return get


def _ready_of_desired(obj: dict[str, Any]) -> str:
    ready = _field("status", "readyReplicas")(obj)
    return f"{ready}/{_field('spec', 'replicas', default=1)(obj)}"


def _pod_ready(obj: dict[str, Any]) -> str:
    containers = _field("spec", "containers", default=[])(obj)
    statuses = _field("status", "containerStatuses", default=[])(obj)
    ready = sum(1 for s in statuses if isinstance(s, dict) and s.get("ready"))
    return f"{ready}/{len(containers) if isinstance(containers, list) else 0}"


def _restarts(obj: dict[str, Any]) -> int:
    statuses = _field("status", "containerStatuses", default=[])(obj)
    counts = [s.get("restartCount", 0) for s in statuses if isinstance(s, dict)]
    return sum(c for c in counts if isinstance(c, int))


def _count(*path: str) -> Cell:
    def count(obj: dict[str, Any]) -> int:
        value = _field(*path, default={})(obj)
        return len(value) if isinstance(value, dict | list) else 0

    return count


_EXTRA_COLUMNS: dict[tuple[str, str], list[tuple[str, str, Cell]]] = {
    ("apps", "Deployment"): [
        ("Ready", "string", _ready_of_desired),
        ("Up-to-date", "integer", _field("status", "updatedReplicas")),
        ("Available", "integer", _field("status", "availableReplicas")),
    ],
    ("apps", "StatefulSet"): [("Ready", "string", _ready_of_desired)],
    ("apps", "ReplicaSet"): [
        ("Desired", "integer", _field("spec", "replicas", default=1)),
        ("Current", "integer", _field("status", "replicas")),
        ("Ready", "integer", _field("status", "readyReplicas")),
    ],
    ("", "Pod"): [
        ("Ready", "string", _pod_ready),
        ("Status", "string", _field("status", "phase", default="Unknown")),
        ("Restarts", "integer", _restarts),
    ],
    ("", "ConfigMap"): [("Data", "integer", _count("data"))],
    ("", "Secret"): [
        ("Type", "string", _field("type", default="Opaque")),
        ("Data", "integer", _count("data")),
    ],
    ("", "Namespace"): [("Status", "string", _field("status", "phase", default="Active"))],
    ("", "Service"): [
        ("Type", "string", _field("spec", "type", default="ClusterIP")),
        ("Cluster-IP", "string", _field("spec", "clusterIP", default="<none>")),
    ],
}


def _json_path(path: str) -> Cell:
    """Simple ``.a.b`` JSONPaths of printer columns (list indexes and filters are not served)."""
    parts = tuple(p for p in path.strip(".").split(".") if p)
    plain = _field(*parts, default=None)

    def get(obj: dict[str, Any]) -> Any:
        value = plain(obj)
        if value is None:
            return "<none>"
        return json.dumps(value) if isinstance(value, dict | list) else value

    return get


def _columns(info: KindInfo) -> list[tuple[str, str, Cell]]:
    extra = _EXTRA_COLUMNS.get((info.group, info.kind), [])
    if info.printer_columns:
        extra = [(name, "string" if kind == "date" else kind, _json_path(path))
                 for name, kind, path in info.printer_columns]  # fmt: skip
    name: Cell = _field("metadata", "name", default="")
    return [("Name", "string", name), *extra, ("Age", "string", _age)]


def _partial_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def to_table(
    info: KindInfo, objects: list[dict[str, Any]], list_metadata: dict[str, Any], include: str
) -> dict[str, Any]:
    """A Table of ``objects``; ``include`` is the includeObject parameter (Metadata default)."""
    columns = _columns(info)
    definitions = [
        {"name": name, "type": kind, "format": "name" if name == "Name" else "",
         "description": name, "priority": 0}
        for name, kind, _ in columns
    ]  # fmt: skip
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": [cell(obj) for _, _, cell in columns]}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = _partial_metadata(obj)
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_metadata,
            "columnDefinitions": definitions, "rows": rows}  # fmt: skip
