"""Reading objects and kinds out of recorded operations (shared by replay seeding and feeding)."""

from __future__ import annotations

from typing import Any

from kreplay_dap.apiserver.kinds import KindInfo, KindRegistry, kind_from_recording
from kreplay_dap.apiserver.patching import clone
from kreplay_dap.apiserver.state import ClusterState
from recorder.storage.model import Operation

MAX_LIST_ITEMS = 100_000


def _is_object(body: Any) -> bool:
    metadata = body.get("metadata") if isinstance(body, dict) else None
    return (
        isinstance(metadata, dict)
        and isinstance(metadata.get("name"), str)  # a name of another type never gets stored
        and bool(metadata["name"])
        and body.get("kind") != "Status"
    )


def objects_in(op: Operation, body: Any) -> list[dict[str, Any]]:
    """The objects a successful operation's response shows (list items get kind/apiVersion)."""
    if op.is_error or not isinstance(body, dict):
        return []
    if op.verb == "watch" and isinstance(body.get("object"), dict) and "type" in body:
        body = body["object"]
    if op.verb == "list":
        items = body.get("items")
        found = (
            [i for i in items[:MAX_LIST_ITEMS] if _is_object(i)] if isinstance(items, list) else []
        )
    else:
        found = [body] if _is_object(body) else []
    objects = []
    for item in found:
        obj = clone(item)
        obj.setdefault("kind", op.kind)
        obj.setdefault("apiVersion", op.api_version or (body.get("apiVersion") or ""))
        objects.append(obj)
    return objects


def kind_of(registry: KindRegistry, op: Operation, obj: dict[str, Any] | None) -> KindInfo | None:
    """The served kind for an operation, registering kinds seen only in the recording."""
    api_version = op.api_version or str((obj or {}).get("apiVersion") or "")
    kind = op.kind or str((obj or {}).get("kind") or "")
    if not kind or not api_version:
        return None
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    info = registry.by_kind(group, kind)
    if info is not None:
        return info
    plural = op.resource or f"{kind.lower()}s"
    namespaced = bool(op.namespace or ((obj or {}).get("metadata") or {}).get("namespace"))
    info = kind_from_recording(api_version, kind, plural, namespaced)
    if not registry.register(info):  # a built-in kind of that plural is served instead
        return registry.by_resource(info.group, info.plural)
    return info


def restore(
    state: ClusterState, info: KindInfo, obj: dict[str, Any], event_type: str, emit: bool
) -> None:
    """Store a recorded object. Silent restores keep the recorded resourceVersion and never
    replace a newer stored version; emitted ones get an RV that keeps the event log ordered."""
    metadata = obj.setdefault("metadata", {})
    recorded = str(metadata.get("resourceVersion") or "")
    namespace = str(metadata.get("namespace") or "") if info.namespaced else ""
    if info.namespaced and not namespace:
        return
    with state.lock:
        if namespace:
            state.ensure_namespace(namespace)
        current = state.get(info, namespace, metadata["name"])
        newer = (
            current is not None and recorded.isdigit() and current.resource_version >= int(recorded)
        )
        if not emit and newer:
            return
        if emit or not recorded.isdigit():
            metadata["resourceVersion"] = str(state.replayed_resource_version(recorded))
        else:
            state.adopt_resource_version(int(recorded))
        state.put(info, obj, event_type, emit=emit)


def forget(
    state: ClusterState, info: KindInfo, op: Operation, obj: dict[str, Any] | None, emit: bool
) -> None:
    """Remove a deleted object (the final state is the recorded one when there is one)."""
    namespace = op.namespace if info.namespaced else ""
    with state.lock:
        stored = state.get(info, namespace, op.name)
        if stored is None:
            return
        final = clone(obj) if obj is not None else clone(stored.obj)
        final.setdefault("metadata", {}).update(name=op.name)
        if info.namespaced:
            final["metadata"]["namespace"] = namespace
        recorded = str(final["metadata"].get("resourceVersion") or "") if obj is not None else ""
        final["metadata"]["resourceVersion"] = str(state.replayed_resource_version(recorded))
        state.remove(info, final, emit=emit)


def apply_operation(state: ClusterState, op: Operation, body: Any, emit: bool) -> None:
    """Reflect one recorded operation (seen as of the recording) in the state."""
    if op.is_error:
        return
    objects = objects_in(op, body)
    info = kind_of(state.registry, op, objects[0] if objects else None)
    if info is None:
        return
    removed = op.verb == "delete" or (op.verb == "watch" and op.event_type == "DELETED")
    if removed:
        marked = objects and (objects[0]["metadata"].get("finalizers") and op.verb == "delete")
        if not marked:
            forget(state, info, op, objects[0] if objects else None, emit)
            return
    if op.verb == "watch" and op.event_type not in ("ADDED", "MODIFIED", "DELETED"):
        return
    event_type = op.event_type if op.verb == "watch" and op.event_type != "DELETED" else "MODIFIED"
    for obj in objects:
        restore(state, info, obj, event_type, emit)
