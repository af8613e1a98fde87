"""Object lifecycle as kube-apiserver runs it: create, update, patch, delete, status and scale.

Every function takes the state lock around its read-check-write, so concurrent writers see
optimistic concurrency exactly as against a real API server.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from typing import Any

from kreplay_dap.apiserver import metadata as meta
from kreplay_dap.apiserver import schema, status, terminating
from kreplay_dap.apiserver.kinds import KindInfo, crd_definition_errors
from kreplay_dap.apiserver.patching import apply_patch, child_map, clone
from kreplay_dap.apiserver.secret_data import is_secret, normalize_secret
from kreplay_dap.apiserver.state import ClusterState, StoredObject

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_TEXT = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and"
    " must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex"
    " used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
NAMESPACE_MISMATCH = (
    "the namespace of the provided object does not match the namespace sent on the request"
)
SERVER_MANAGED = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")
RESOURCE_VERSION_REQUIRED = "Invalid value: 0x0: must be specified for an update"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Target:
    """What a request addresses: a kind, a namespace ("" if cluster-scoped) and maybe a name."""

    info: KindInfo
    namespace: str
    name: str = ""
    subresource: str = ""
    version: str = ""
    # A write's ``fieldValidation``: "Strict" refuses unknown fields; "Warn" (the server's
    # default) and "Ignore" drop them, "Warn" with a warning each in ``warnings``.
    field_validation: str = "Warn"
    # Filled in while a write is admitted; the response carries them as Warning headers.
    warnings: list[str] = dataclass_field(default_factory=list)


def _invalid(target: Target, name: str, field: str, message: str) -> status.ApiStatusError:
    return status.invalid(target.info.kind, target.info.group, name, [(field, message)])


def validate_body(target: Target, body: Any) -> dict[str, Any]:
    """Shape checks the API server's decoder makes; returns the body's metadata."""
    if not isinstance(body, dict):
        raise status.bad_request("the request body must be a JSON object")
    info = target.info
    kind = body.get("kind")
    if kind not in (None, "", info.kind):
        raise status.bad_request(f"the kind in the body ({kind}) does not match {info.kind}")
    api_version = body.get("apiVersion")
    if api_version not in (None, "") and api_version not in {
        info.api_version(v) for v in info.versions
    }:
        raise status.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version"
            f" ({info.api_version(target.version)})"
        )
    if body.get("metadata") is None:
        body["metadata"] = {}
    metadata = body["metadata"]
    if not isinstance(metadata, dict):
        detail = meta.unmarshal_error(metadata, f"{info.kind}.metadata", "v1.ObjectMeta")
        raise meta.DecodeError(info, target.version, detail)
    meta.check_types(info, target.version, metadata)
    if is_secret(info):
        normalize_secret(info, target.version, body)
    return metadata


def _name_errors(target: Target, name: str) -> list[meta.Cause]:
    namespace_kind = target.info.kind == "Namespace"
    pattern, text, limit = (
        (_LABEL, _LABEL_TEXT, 63)
        if namespace_kind
        else (meta.SUBDOMAIN, meta.SUBDOMAIN_TEXT, meta.SUBDOMAIN_MAX)
    )
    if len(name) > limit:
        return [
            ("metadata.name", f'Invalid value: "{name}": must be no more than {limit} characters')
        ]
    if not pattern.match(name):
        return [("metadata.name", f'Invalid value: "{name}": {text}')]
    return []


def _definition_errors(target: Target, obj: dict[str, Any]) -> list[meta.Cause]:
    """Field errors of the object's metadata, and of a CRD's definition."""
    causes = meta.syntax_errors(obj["metadata"])
    if terminating.is_crd(target.info) and not target.subresource:
        causes.extend(crd_definition_errors(obj))
    return causes


def _namespace_for(target: Target, metadata: dict[str, Any], state: ClusterState) -> str:
    """The namespace of a new object; 400 if the body names another one than the URL."""
    if not target.info.namespaced:
        metadata.pop("namespace", None)
        return ""
    given = metadata.get("namespace") or target.namespace
    if target.namespace and given != target.namespace:
        raise status.bad_request(NAMESPACE_MISMATCH)
    if not given:
        raise status.bad_request("a namespaced object needs a namespace")
    if not state.namespace_exists(given):
        raise status.not_found("namespaces", given)
    metadata["namespace"] = given
    return str(given)


def _spec_part(info: KindInfo, obj: dict[str, Any]) -> Any:
    """What a generation counts: a built-in's spec; all of a custom resource but its
    metadata (and its status when that is a subresource of its own)."""
    if info.builtin:
        return obj.get("spec")
    skipped = {"metadata", "apiVersion", "kind"} | ({"status"} & info.subresources)
    return {k: v for k, v in obj.items() if k not in skipped}


def _initial_status(info: KindInfo, body: dict[str, Any]) -> None:
    if "status" not in info.subresources:
        return
    body.pop("status", None)
    if info.kind == "Pod" and info.group == "":
        body["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif info.kind == "Namespace" and info.group == "":
        body["status"] = {"phase": "Active"}
        body.setdefault("spec", {"finalizers": ["kubernetes"]})
    elif info.kind == "CustomResourceDefinition":
        spec = body.get("spec") or {}
        versions = [v.get("name") for v in spec.get("versions") or [] if isinstance(v, dict)]
        conditions = [
            {"type": kind, "status": "True", "reason": reason, "message": message,
             "lastTransitionTime": now_rfc3339()}
            for kind, reason, message in (
                ("NamesAccepted", "NoConflicts", "no conflicts found"),
                ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            )
        ]  # fmt: skip
        body["status"] = {"conditions": conditions, "acceptedNames": spec.get("names") or {},
                          "storedVersions": versions[:1]}  # fmt: skip


def create(state: ClusterState, target: Target, body: Any, dry_run: bool = False) -> StoredObject:
    metadata = validate_body(target, body)
    info = target.info
    with state.lock:
        namespace = _namespace_for(target, metadata, state)
        name = metadata.get("name") or ""
        generate = metadata.get("generateName") or ""
        if not name and not generate:
            raise _invalid(
                target, "", "metadata.name", "Required value: name or generateName is required"
            )
        if not name:
            name = _generated_name(state, info, namespace, str(generate))
        terminating.check_can_create(state, info, namespace, name)
        causes = _name_errors(target, name) + _definition_errors(target, body)
        if causes:
            raise status.invalid(info.kind, info.group, name, causes)
        if state.get(info, namespace, name) is not None:
            raise status.already_exists(info.group_resource, name)
        body["apiVersion"] = info.api_version(target.version)
        body["kind"] = info.kind
        metadata.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339())
        for field in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            metadata.pop(field, None)
        if info.has_generation:
            metadata["generation"] = 1
        _initial_status(info, body)
        schema.admit(state, target, body)
        if dry_run:
            return StoredObject(body, b"", state.resource_version)
        _refuse_a_resource_version(metadata)
        metadata["resourceVersion"] = str(state.next_resource_version())
        return state.put(info, body, "ADDED")


def _refuse_a_resource_version(metadata: dict[str, Any]) -> None:
    """As the real storage layer does (a plain error, so a 500): an object read back and
    created again carries its old version. One that does not parse ("-1") passes there too."""
    version = metadata.get("resourceVersion")
    if isinstance(version, str) and version.isdigit() and int(version) != 0:
        message = "resourceVersion should not be set on objects to be created"
        raise status.ApiStatusError(500, message)


def _generated_name(state: ClusterState, info: KindInfo, namespace: str, prefix: str) -> str:
    base = prefix[: 253 - 5]
    for _attempt in range(16):
        candidate = base + uuid.uuid4().hex[:5]
        if state.get(info, namespace, candidate) is None:
            return candidate
    raise status.already_exists(info.group_resource, base)


def _current(state: ClusterState, target: Target) -> StoredObject:
    stored = state.get(target.info, target.namespace, target.name)
    if stored is None:
        raise status.not_found(target.info.group_resource, target.name)
    return stored


def _merge_server_fields(
    target: Target, old: dict[str, Any], new: dict[str, Any]
) -> dict[str, Any]:
    """Carry server-managed metadata over; split spec and status by subresource."""
    info = target.info
    if target.subresource == "status":
        merged = clone(old)
        if "status" in new:
            merged["status"] = new["status"]
        else:
            merged.pop("status", None)
        return merged
    old_meta, new_meta = old["metadata"], new["metadata"]
    for field in (*SERVER_MANAGED, "namespace", "name", "generation"):
        if field in old_meta:
            new_meta[field] = old_meta[field]
        else:
            new_meta.pop(field, None)
    new["apiVersion"] = old.get("apiVersion", info.api_version())
    new["kind"] = info.kind
    if "status" in info.subresources:
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    if terminating.is_namespace(info):  # only the namespace controller finalizes (/finalize)
        old_spec, spec = child_map(old, "spec"), dict(child_map(new, "spec"))
        spec.pop("finalizers", None)
        if "finalizers" in old_spec:
            spec["finalizers"] = old_spec["finalizers"]
        if spec or "spec" in old:
            new["spec"] = spec
    return new


def _store_update(
    state: ClusterState, target: Target, old: StoredObject, new: dict[str, Any]
) -> StoredObject:
    """Write ``new`` over ``old``: no-op detection, generation bump, finalizer completion."""
    info = target.info
    new_meta = new["metadata"]
    new_meta["resourceVersion"] = old.obj["metadata"].get("resourceVersion", "")
    if new == old.obj:
        return old
    if info.has_generation and _spec_part(info, new) != _spec_part(info, old.obj):
        new_meta["generation"] = int(old.obj["metadata"].get("generation") or 0) + 1
    new_meta["resourceVersion"] = str(state.next_resource_version())
    released = bool(new_meta.get("deletionTimestamp")) and not new_meta.get("finalizers")
    if released and not terminating.is_namespace(info):
        terminating.remove(state, info, new)
        return StoredObject(new, b"", int(new_meta["resourceVersion"]))
    stored = state.put(info, new, "MODIFIED")
    if released:  # a Terminating namespace goes once it holds nothing
        terminating.settle_namespace(state, target.name)
    return stored


def _validate_update(target: Target, old: dict[str, Any], new: dict[str, Any]) -> None:
    """422 for field errors of the new object, and for finalizers added during deletion."""
    causes = [] if target.subresource else _definition_errors(target, new)
    if terminating.is_terminating(old):
        before = set(old["metadata"].get("finalizers") or [])
        added = sorted(set(new["metadata"].get("finalizers") or []) - before)
        if added:
            listed = ", ".join(meta.quote(f) for f in added)
            message = (
                "Forbidden: no new finalizers can be added if the object is being deleted, found"
                f" new finalizers []string{{{listed}}}"
            )
            causes.append(("metadata.finalizers", message))
    if causes:
        raise status.invalid(target.info.kind, target.info.group, target.name, causes)


def _check_request_namespace(target: Target, metadata: dict[str, Any]) -> None:
    """An object's namespace must be empty or the URL's; cluster-scoped kinds drop it."""
    if not target.info.namespaced:
        metadata.pop("namespace", None)
    elif metadata.get("namespace") and metadata["namespace"] != target.namespace:
        raise status.bad_request(NAMESPACE_MISMATCH)


def _require_resource_version(target: Target, metadata: dict[str, Any]) -> None:
    """Custom resources and CRDs do not allow unconditional updates."""
    if target.info.unconditional_update or metadata.get("resourceVersion") not in (None, "", "0"):
        return
    causes = [("metadata.resourceVersion", RESOURCE_VERSION_REQUIRED)]
    # store.Update names the resource, not the kind, in this error
    raise status.invalid(target.info.plural, target.info.group, target.name, causes)


def _check_preconditions(target: Target, old: dict[str, Any], new_meta: dict[str, Any]) -> None:
    wanted_rv = new_meta.get("resourceVersion")
    if wanted_rv and wanted_rv != old["metadata"].get("resourceVersion"):
        raise status.conflict(target.info.group_resource, target.name)
    wanted_uid = new_meta.get("uid")
    if wanted_uid and wanted_uid != old["metadata"].get("uid"):
        raise status.conflict(
            target.info.group_resource,
            target.name,
            f"Precondition failed: UID in precondition: {wanted_uid}, UID in object meta: "
            f"{old['metadata'].get('uid')}",
        )


def update(state: ClusterState, target: Target, body: Any, dry_run: bool = False) -> StoredObject:
    metadata = validate_body(target, body)
    _check_url_name(target, metadata.get("name"))
    _check_request_namespace(target, metadata)
    with state.lock:
        old = _current(state, target)
        _require_resource_version(target, metadata)
        _check_preconditions(target, old.obj, metadata)
        new = _merge_server_fields(target, old.obj, clone(body))
        _validate_update(target, old.obj, new)
        schema.admit(state, target, new, old.obj)
        if dry_run:
            return StoredObject(new, b"", old.resource_version)
        return _store_update(state, target, old, new)


def _patched(target: Target, old: dict[str, Any], content_type: str, body: Any) -> dict[str, Any]:
    """The object a patch makes of ``old``, decoded and checked as the patch handler does."""
    patched = apply_patch(content_type, old, body, target.info.builtin)
    if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
        raise status.ApiStatusError(422, "the patched object must be an object with metadata")
    try:
        validate_body(target, patched)
    except meta.DecodeError as error:
        raise meta.as_patch_error(error, body) from error
    _check_request_namespace(target, patched["metadata"])
    _check_url_name(target, patched["metadata"].get("name"))
    return patched


def _check_url_name(target: Target, name: Any) -> None:
    if name != target.name:
        raise status.bad_request(
            f"the name of the object ({name or ''}) does not match the name on the URL"
            f" ({target.name})"
        )


def patch(
    state: ClusterState, target: Target, content_type: str, body: Any, dry_run: bool = False
) -> StoredObject:
    with state.lock:
        old = _current(state, target)
        patched = _patched(target, old.obj, content_type, body)
        _check_preconditions(target, old.obj, patched["metadata"])
        new = _merge_server_fields(target, old.obj, patched)
        _validate_update(target, old.obj, new)
        schema.admit(state, target, new, old.obj)
        if dry_run:
            return StoredObject(new, b"", old.resource_version)
        return _store_update(state, target, old, new)
