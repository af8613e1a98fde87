"""What the namespace controller and the CRD finalizer do, done at once and in memory.

A deleted namespace turns Terminating and its contents are deleted; it disappears once it
holds nothing (objects with finalizers keep it Terminating). A deleted CustomResourceDefinition
gets the ``customresourcecleanup`` finalizer and its custom resources are deleted; once they
are gone the CRD disappears and its kind is no longer served (watches on it end).

Callers hold the state lock. Objects leave the store through ``remove``, which calls
``after_removal``; the final removals here (a namespace, a CRD) call ``_remove`` instead.
"""

from __future__ import annotations

import logging
from typing import Any

from kreplay_dap.apiserver import status
from kreplay_dap.apiserver.kinds import KindInfo
from kreplay_dap.apiserver.patching import child_map, clone
from kreplay_dap.apiserver.state import ClusterState, StoredObject

logger = logging.getLogger(__name__)

PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
CRD_GROUP = "apiextensions.k8s.io"
CRD_PLURAL = "customresourcedefinitions"
CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def is_terminating(obj: dict[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def is_namespace(info: KindInfo) -> bool:
    return info.group == "" and info.plural == "namespaces"


def is_crd(info: KindInfo) -> bool:
    return info.group == CRD_GROUP and info.plural == CRD_PLURAL


def crd_names(crd: dict[str, Any]) -> tuple[str, str]:
    """(group, plural) a CustomResourceDefinition declares, "" where it is malformed."""
    spec = child_map(crd, "spec")
    names = child_map(spec, "names")
    group, plural = spec.get("group"), names.get("plural")
    return (group if isinstance(group, str) else ""), (plural if isinstance(plural, str) else "")


def _namespace(state: ClusterState, name: str) -> tuple[KindInfo, StoredObject] | None:
    info = state.registry.by_resource("", "namespaces")
    stored = state.get(info, "", name) if info is not None else None
    return (info, stored) if info is not None and stored is not None else None


def crd_of(state: ClusterState, kind: KindInfo) -> tuple[KindInfo, StoredObject] | None:
    """The CRD serving a custom kind: its name is ``<plural>.<group>``, which the API server
    enforces, so no scan of the other CRDs is needed."""
    info = state.registry.by_resource(CRD_GROUP, CRD_PLURAL)
    stored = state.get(info, "", f"{kind.plural}.{kind.group}") if info is not None else None
    if info is None or stored is None or crd_names(stored.obj) != (kind.group, kind.plural):
        return None
    return info, stored


def check_can_create(state: ClusterState, info: KindInfo, namespace: str, name: str) -> None:
    """Admission of a create: nothing new in a Terminating namespace or for a Terminating CRD."""
    found = _namespace(state, namespace) if namespace else None
    if found is not None and is_terminating(found[1].obj):
        cause = {"reason": "NamespaceTerminating", "field": "metadata.namespace",
                 "message": f"namespace {namespace} is being terminated"}  # fmt: skip
        why = (
            f"unable to create new content in namespace {namespace} because it is being terminated"
        )
        raise status.forbidden(info.group_resource, name, why, [cause])
    crd = None if info.builtin else crd_of(state, info)
    if crd is not None and is_terminating(crd[1].obj):
        raise status.ApiStatusError(
            405,
            "create not allowed while custom resource definition is terminating",
            details={"group": info.group, "kind": info.plural},
        )


def store_modified(state: ClusterState, info: KindInfo, obj: dict[str, Any]) -> None:
    """Store a changed object under a new resourceVersion (a MODIFIED event)."""
    obj["metadata"]["resourceVersion"] = str(state.next_resource_version())
    state.put(info, obj, "MODIFIED")


def _remove(state: ClusterState, info: KindInfo, obj: dict[str, Any]) -> None:
    obj["metadata"]["resourceVersion"] = str(state.next_resource_version())
    state.remove(info, obj)


def settle_namespace(state: ClusterState, name: str) -> None:
    """Finalize a Terminating namespace that holds nothing any more: drop the ``kubernetes``
    finalizer, then remove it unless finalizers of its own remain."""
    found = _namespace(state, name)
    if found is None or not is_terminating(found[1].obj) or state.namespace_object_count(name):
        return
    info, stored = found
    namespace = clone(stored.obj)
    spec = child_map(namespace, "spec")
    namespace["spec"] = {**spec, "finalizers": []}
    if namespace["metadata"].get("finalizers"):
        if namespace != stored.obj:
            store_modified(state, info, namespace)
        return
    _remove(state, info, namespace)


def settle_crd(state: ClusterState, crd_info: KindInfo, crd: StoredObject) -> None:
    """Finish deleting a Terminating CRD whose custom resources are all gone."""
    if not is_terminating(crd.obj):
        return
    group, plural = crd_names(crd.obj)
    kind = state.registry.by_resource(group, plural)
    if kind is not None and not kind.builtin and state.kind_object_count(kind):
        return
    final = clone(crd.obj)
    metadata = final["metadata"]
    finalizers = [f for f in metadata.get("finalizers") or [] if f != CRD_CLEANUP_FINALIZER]
    metadata["finalizers"] = finalizers
    if finalizers:
        if final != crd.obj:
            store_modified(state, crd_info, final)
        return
    metadata.pop("finalizers")
    _remove(state, crd_info, final)
    forget_custom_kind(state, final)


def forget_custom_kind(state: ClusterState, crd: dict[str, Any]) -> None:
    """Stop serving the kind of a removed CRD; custom resources still stored (their cleanup
    finalizer was removed by hand) go with it, as their storage does."""
    group, plural = crd_names(crd)
    removed = state.registry.unregister(group, plural)
    if removed is not None:
        left = state.drop_kind(removed)
        if left:
            logger.info("dropped %d %s left behind by their CRD", len(left), removed.group_resource)
        with state.lock:
            state.changed.notify_all()  # watchers of the kind see it gone


def remove(state: ClusterState, info: KindInfo, obj: dict[str, Any]) -> None:
    """Remove a deleted object (its final resourceVersion set), then finish what that
    may finish: its Terminating namespace or CRD."""
    state.remove(info, obj)
    after_removal(state, info, obj)


def after_removal(state: ClusterState, info: KindInfo, obj: dict[str, Any]) -> None:
    """An object left the store: its Terminating namespace or CRD may now be finished."""
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace") if info.namespaced else ""
    if isinstance(namespace, str) and namespace:
        settle_namespace(state, namespace)
    if not info.builtin:
        crd = crd_of(state, info)
        if crd is not None:
            settle_crd(state, crd[0], crd[1])
    if is_crd(info):
        forget_custom_kind(state, obj)
