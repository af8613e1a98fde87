"""Delete and deletecollection, honouring finalizers (mark with deletionTimestamp instead).

Namespaces and CustomResourceDefinitions are not removed by a DELETE: they turn Terminating,
their contents are deleted, and ``terminating`` removes them once nothing is left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kreplay_dap.apiserver import status, terminating
from kreplay_dap.apiserver.kinds import KindInfo
from kreplay_dap.apiserver.metadata import quote
from kreplay_dap.apiserver.objects import Target, now_rfc3339
from kreplay_dap.apiserver.patching import child_list, child_map, clone
from kreplay_dap.apiserver.selectors import FieldSelector, LabelSelector, fields_match, labels_match
from kreplay_dap.apiserver.state import ClusterState, StoredObject

MAX_DELETECOLLECTION = 100_000
MAX_DRY_RUN_VALUES = 16
PROPAGATION_POLICIES = ("Foreground", "Background", "Orphan")
NAMESPACE_STILL_TERMINATING = (
    "The system is ensuring all content is removed from this namespace.  Upon completion, this"
    " namespace will automatically be purged by the system."
)
CRD_TERMINATING_CONDITION = {
    "type": "Terminating",
    "status": "True",
    "reason": "InstanceDeletionPending",
    "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin"
    " soon",
}
_QUERY_OPTIONS = ("propagationPolicy", "gracePeriodSeconds", "orphanDependents", "dryRun")


@dataclass(frozen=True, slots=True)
class Deleted:
    """A deleted object's final state; ``removed`` is False while finalizers keep it."""

    obj: dict[str, Any]
    removed: bool


def _options_from_query(query: dict[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key in _QUERY_OPTIONS:
        if key not in query:
            continue
        text = query[key]
        if key == "dryRun":
            options[key] = [text]
        elif key == "orphanDependents":
            if text not in ("true", "false"):
                raise status.bad_request(f"invalid orphanDependents parameter {text!r}")
            options[key] = text == "true"
        elif key == "gracePeriodSeconds":
            if not text.lstrip("-").isdigit() or len(text) > 12:
                raise status.bad_request(f"invalid gracePeriodSeconds parameter {text!r}")
            options[key] = int(text)
        else:
            options[key] = text
    return options


def _has_type(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _check_option_types(options: dict[str, Any]) -> None:
    expected = {"propagationPolicy": str, "orphanDependents": bool, "dryRun": list,
                "gracePeriodSeconds": int, "preconditions": dict}  # fmt: skip
    for key, kind in expected.items():
        value = options.get(key)
        if value is not None and not _has_type(value, kind):
            raise status.bad_request(f"DeleteOptions.{key} has the wrong type")
    dry_run = options.get("dryRun") or []
    if len(dry_run) > MAX_DRY_RUN_VALUES or not all(isinstance(v, str) for v in dry_run):
        raise status.bad_request("DeleteOptions.dryRun must be a short list of strings")


def delete_options(body: Any, query: dict[str, str]) -> dict[str, Any]:
    """DeleteOptions from the body, or from the query when there is no body (as the handler
    reads them), validated as ValidateDeleteOptions does."""
    if body is None:
        options = _options_from_query(query)
    elif isinstance(body, dict):
        options = body
    else:
        raise status.bad_request("DeleteOptions must be a JSON object")
    _check_option_types(options)
    policy = options.get("propagationPolicy")
    causes: list[tuple[str, str]] = []
    if policy is not None and options.get("orphanDependents") is not None:
        both = "orphanDependents and deletionPropagation cannot be both set"
        causes.append(("propagationPolicy", f"Invalid value: {quote(policy)}: {both}"))
    if policy is not None and policy not in PROPAGATION_POLICIES:
        supported = ", ".join(quote(p) for p in PROPAGATION_POLICIES)
        message = f"Unsupported value: {quote(policy)}: supported values: {supported}"
        causes.append(("propagationPolicy", message))
    unsupported = [v for v in options.get("dryRun") or [] if v != "All"]
    if unsupported:
        causes.append(dry_run_cause(unsupported))
    if causes:
        raise status.invalid("DeleteOptions", "meta.k8s.io", "", causes)
    return options


def dry_run_cause(unsupported: list[str]) -> tuple[str, str]:
    """The Invalid cause the API server gives dryRun values other than All."""
    listed = ", ".join(quote(value) for value in unsupported)
    return ("dryRun", f'Unsupported value: []string{{{listed}}}: supported values: "All"')


def is_dry_run(options: dict[str, Any]) -> bool:
    return "All" in (options.get("dryRun") or [])


def _preconditions(target: Target, obj: dict[str, Any], options: dict[str, Any]) -> None:
    wanted = options.get("preconditions") or {}
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
) -> Deleted:
    """Delete one object (lock held): mark it if it has finalizers, else remove it."""
    final = clone(stored.obj)
    metadata = final["metadata"]
    if metadata.get("finalizers"):
        if not metadata.get("deletionTimestamp"):
            metadata["deletionTimestamp"] = now_rfc3339()
            metadata["deletionGracePeriodSeconds"] = 0
            if target.info.has_generation:
                metadata["generation"] = int(metadata.get("generation") or 0) + 1
            if not dry_run:
                terminating.store_modified(state, target.info, final)
        return Deleted(final, removed=False)
    if dry_run:
        return Deleted(final, removed=True)
    metadata["resourceVersion"] = str(state.next_resource_version())
    terminating.remove(state, target.info, final)
    return Deleted(final, removed=True)


def delete(
    state: ClusterState, target: Target, options: dict[str, Any], dry_run: bool = False
) -> Deleted:
    info = target.info
    if terminating.is_namespace(info) and target.name in terminating.PROTECTED_NAMESPACES:
        raise status.forbidden("namespaces", target.name, "this namespace may not be deleted")
    with state.lock:
        stored = state.get(info, target.namespace, target.name)
        if stored is None:
            raise status.not_found(info.group_resource, target.name)
        _preconditions(target, stored.obj, options)
        if terminating.is_namespace(info):
            return _terminate_namespace(state, target, stored, dry_run)
        if terminating.is_crd(info):
            return _terminate_crd(state, target, stored, dry_run)
        return delete_object(state, stored, target, dry_run)


def _terminate_namespace(
    state: ClusterState, target: Target, stored: StoredObject, dry_run: bool
) -> Deleted:
    """Mark the namespace Terminating, delete what it holds; it goes once it is empty."""
    namespace = clone(stored.obj)
    if terminating.is_terminating(namespace):
        if (namespace.get("spec") or {}).get("finalizers"):
            raise status.conflict("namespaces", target.name, NAMESPACE_STILL_TERMINATING)
        return Deleted(namespace, removed=False)
    namespace["metadata"]["deletionTimestamp"] = now_rfc3339()
    phase = child_map(namespace, "status")
    namespace["status"] = {**phase, "phase": "Terminating"}
    if dry_run:
        return Deleted(namespace, removed=False)
    terminating.store_modified(state, target.info, namespace)
    for info in state.registry.all():
        if not info.namespaced:
            continue
        members, _ = state.items(info, target.name)
        _delete_members(state, info, members)
    terminating.settle_namespace(state, target.name)
    return Deleted(namespace, removed=False)


def _with_terminating_condition(crd: dict[str, Any]) -> None:
    crd_status = child_map(crd, "status")
    conditions = child_list(crd_status, "conditions")
    kept = [c for c in conditions if not (isinstance(c, dict) and c.get("type") == "Terminating")]
    condition = {**CRD_TERMINATING_CONDITION, "lastTransitionTime": now_rfc3339()}
    crd["status"] = {**crd_status, "conditions": [*kept, condition]}


def _terminate_crd(
    state: ClusterState, target: Target, stored: StoredObject, dry_run: bool
) -> Deleted:
    """Add the cleanup finalizer, delete the custom resources; the CRD goes once they are."""
    crd = clone(stored.obj)
    metadata = crd["metadata"]
    if terminating.is_terminating(crd):
        return Deleted(crd, removed=False)
    metadata["deletionTimestamp"] = now_rfc3339()
    finalizers = list(metadata.get("finalizers") or [])
    if terminating.CRD_CLEANUP_FINALIZER not in finalizers:
        finalizers.append(terminating.CRD_CLEANUP_FINALIZER)
    metadata["finalizers"] = finalizers
    _with_terminating_condition(crd)
    if dry_run:
        return Deleted(crd, removed=False)
    terminating.store_modified(state, target.info, crd)
    group, plural = terminating.crd_names(crd)
    kind = state.registry.by_resource(group, plural)
    if kind is not None and not kind.builtin:
        members, _ = state.items(kind)
        _delete_members(state, kind, members)
    current = state.get(target.info, "", target.name)
    if current is not None:
        terminating.settle_crd(state, target.info, current)
    return Deleted(crd, removed=False)


def delete_collection(
    state: ClusterState,
    target: Target,
    labels: LabelSelector,
    fields: FieldSelector,
    dry_run: bool = False,
) -> list[dict[str, Any]]:
    with state.lock:
        members, _ = state.items(target.info, target.namespace)
        chosen = [
            member
            for member in members[:MAX_DELETECOLLECTION]
            if labels_match(labels, member.obj) and fields_match(fields, member.obj)
        ]
        return _delete_members(state, target.info, chosen, dry_run)


def _delete_members(
    state: ClusterState, info: KindInfo, members: list[StoredObject], dry_run: bool = False
) -> list[dict[str, Any]]:
    """Delete each of ``members`` (objects of ``info``; lock held), the first
    ``MAX_DELETECOLLECTION``; what each delete answered."""
    deleted: list[dict[str, Any]] = []
    for member in members[:MAX_DELETECOLLECTION]:
        metadata = member.obj["metadata"]
        one = Target(info, str(metadata.get("namespace") or ""), metadata["name"])
        deleted.append(delete_object(state, member, one, dry_run).obj)
    return deleted
