"""Delete and deletecollection, honouring finalizers (mark with deletionTimestamp instead)."""

from __future__ import annotations

from typing import Any

from kreplay_dap.apiserver import status
from kreplay_dap.apiserver.objects import Target, now_rfc3339
from kreplay_dap.apiserver.patching import clone
from kreplay_dap.apiserver.selectors import FieldSelector, LabelSelector, fields_match, labels_match
from kreplay_dap.apiserver.state import ClusterState, StoredObject

MAX_DELETECOLLECTION = 100_000


def _preconditions(target: Target, obj: dict[str, Any], options: Any) -> None:
    if options is None:
        return
    if not isinstance(options, dict):
        raise status.bad_request("DeleteOptions must be a JSON object")
    wanted = options.get("preconditions") or {}
    if not isinstance(wanted, dict):
        raise status.bad_request("DeleteOptions.preconditions must be an object")
    metadata = obj["metadata"]
    if wanted.get("uid") and wanted["uid"] != metadata.get("uid"):
        raise status.conflict(
            target.info.group_resource,
            target.name,
            f"Precondition failed: UID in precondition: {wanted['uid']}, UID in object meta: "
            f"{metadata.get('uid')}",
        )
    if wanted.get("resourceVersion") and wanted["resourceVersion"] != metadata.get(
        "resourceVersion"
    ):
        raise status.conflict(
            target.info.group_resource,
            target.name,
            "Precondition failed: ResourceVersion in precondition: "
            f"{wanted['resourceVersion']}, ResourceVersion in object meta: "
            f"{metadata.get('resourceVersion')}",
        )


def delete_object(
    state: ClusterState, stored: StoredObject, target: Target, dry_run: bool
) -> dict[str, Any]:
    """Delete one object (lock held): mark it if it has finalizers, else remove it."""
    final = clone(stored.obj)
    metadata = final["metadata"]
    if dry_run:
        return final
    if metadata.get("finalizers"):
        if not metadata.get("deletionTimestamp"):
            metadata["deletionTimestamp"] = now_rfc3339()
            metadata["deletionGracePeriodSeconds"] = 0
            if target.info.has_generation:
                metadata["generation"] = int(metadata.get("generation") or 0) + 1
            metadata["resourceVersion"] = str(state.next_resource_version())
            state.put(target.info, final, "MODIFIED")
        return final
    metadata["resourceVersion"] = str(state.next_resource_version())
    state.remove(target.info, final)
    return final


def delete(
    state: ClusterState, target: Target, options: Any, dry_run: bool = False
) -> dict[str, Any]:
    with state.lock:
        stored = state.get(target.info, target.namespace, target.name)
        if stored is None:
            raise status.not_found(target.info.group_resource, target.name)
        _preconditions(target, stored.obj, options)
        if target.info.kind == "Namespace" and target.info.group == "" and not dry_run:
            _empty_namespace(state, target.name)
        return delete_object(state, stored, target, dry_run)


def _empty_namespace(state: ClusterState, namespace: str) -> None:
    """What the namespace controller does: delete everything inside first."""
    for info in state.registry.all():
        if not info.namespaced:
            continue
        members, _ = state.items(info, namespace)
        for member in members[:MAX_DELETECOLLECTION]:
            name = member.obj["metadata"]["name"]
            delete_object(state, member, Target(info, namespace, name), dry_run=False)


def delete_collection(
    state: ClusterState,
    target: Target,
    labels: LabelSelector,
    fields: FieldSelector,
    dry_run: bool = False,
) -> list[dict[str, Any]]:
    deleted: list[dict[str, Any]] = []
    with state.lock:
        members, _ = state.items(target.info, target.namespace)
        for member in members[:MAX_DELETECOLLECTION]:
            if not (labels_match(labels, member.obj) and fields_match(fields, member.obj)):
                continue
            metadata = member.obj["metadata"]
            one = Target(target.info, metadata.get("namespace", ""), metadata["name"])
            deleted.append(delete_object(state, member, one, dry_run))
    return deleted
