"""The ``scale`` subresource (autoscaling/v1 Scale) of Deployments, StatefulSets, ReplicaSets."""

from __future__ import annotations

from typing import Any

from kreplay_dap.apiserver import status
from kreplay_dap.apiserver.objects import Target
from kreplay_dap.apiserver.patching import apply_patch, clone
from kreplay_dap.apiserver.state import ClusterState, StoredObject


def _selector_text(obj: dict[str, Any]) -> str:
    selector = (obj.get("spec") or {}).get("selector") or {}
    labels = selector.get("matchLabels") if isinstance(selector, dict) else None
    if not isinstance(labels, dict):
        return ""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj["metadata"]
    spec = obj.get("spec") or {}
    state = obj.get("status") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: metadata[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in metadata
        },
        "spec": {"replicas": int(spec.get("replicas", 1) or 0)},
        "status": {"replicas": int(state.get("replicas", 0) or 0), "selector": _selector_text(obj)},
    }


def _replicas(scale: Any) -> int:
    replicas = (scale.get("spec") or {}).get("replicas") if isinstance(scale, dict) else None
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise status.invalid(
            "Scale",
            "autoscaling",
            "",
            [("spec.replicas", "Invalid value: must be a non-negative integer")],
        )
    return replicas


def write_scale(
    state: ClusterState, target: Target, scale: Any, content_type: str = "", dry_run: bool = False
) -> dict[str, Any]:
    """Update (``content_type`` empty) or patch the Scale; stores spec.replicas on the object
    (a dry run answers with the Scale it would store)."""
    with state.lock:
        stored = state.get(target.info, target.namespace, target.name)
        if stored is None:
            raise status.not_found(target.info.group_resource, target.name)
        current = scale_of(stored.obj)
        wanted = apply_patch(content_type, current, scale, True) if content_type else scale
        replicas = _replicas(wanted)
        wanted_rv = (wanted.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != current["metadata"].get("resourceVersion"):
            raise status.conflict(target.info.group_resource, target.name)
        new = clone(stored.obj)
        new.setdefault("spec", {})["replicas"] = replicas
        if new == stored.obj:
            return current
        if dry_run:
            return scale_of(new)
        return scale_of(_store(state, target, stored, new).obj)


def _store(
    state: ClusterState, target: Target, old: StoredObject, new: dict[str, Any]
) -> StoredObject:
    metadata = new["metadata"]
    metadata["generation"] = int(old.obj["metadata"].get("generation") or 0) + 1
    metadata["resourceVersion"] = str(state.next_resource_version())
    return state.put(target.info, new, "MODIFIED")
