"""CRD ``openAPIV3Schema``s applied as kube-apiserver applies them (apiextensions.k8s.io/v1).

The object lifecycle (``objects.create``/``update``/``patch``) calls ``admit`` with the object
it is about to store, under the state lock:

- a custom resource is pruned, cleared of disallowed nulls and defaulted with the schema of
  the version being written, then validated (``schema_validate``); errors answer 422 Invalid
  with one ``details.causes`` entry each. Updates, the status subresource included, ratchet:
  values unchanged since the stored object are not validated again.
- a CustomResourceDefinition is checked: each version's schema must compile as a structural
  schema, defaults must be pruned and valid, ``spec.preserveUnknownFields`` must be false.
  A version without any ``schema`` is accepted, and its objects are stored as sent (the real
  v1 API requires a schema; tests and hand-written manifests often leave it out).

``refresh_stored_objects`` coerces the stored objects of a kind after its CRD changes, which
is what reads from storage show on a real server (defaults are applied on every decode).

Recorded objects never pass through here: replay seeds the state and answers matched writes
with the recorded responses, which are what a real server already accepted. A CRD stored
from a recording whose schema does not compile is logged and its kind left unvalidated.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from kreplay_dap.apiserver.kinds import KindInfo
from kreplay_dap.apiserver.metadata import quote
from kreplay_dap.apiserver.patching import clone
from kreplay_dap.apiserver.schema_errors import (
    FieldError,
    forbidden,
    invalid,
    invalid_status,
    required,
)
from kreplay_dap.apiserver.schema_model import CompiledSchema, compile_schema
from kreplay_dap.apiserver.schema_prune import (
    MAX_NODES_VISITED,
    coerce,
    prune,
    unknown_fields,
    unknown_metadata,
)
from kreplay_dap.apiserver.schema_validate import MISSING, json_equal, validate
from kreplay_dap.apiserver.state import ClusterState
from kreplay_dap.apiserver.status import ApiStatusError
from kreplay_dap.apiserver.terminating import CRD_GROUP, crd_of, is_crd

if TYPE_CHECKING:
    from kreplay_dap.apiserver.objects import Target

logger = logging.getLogger(__name__)

CRD_KIND = "CustomResourceDefinition"
MAX_VERSIONS = 32
MAX_DEFAULTS_CHECKED = 2_000
CACHE_SIZE = 256
MAX_REFRESHED_OBJECTS = 200_000  # the state's own object limit

# Compiled schemas by (id of the stored CRD object, version). Stored objects are never mutated,
# so the object's identity stands for its content; the entry keeps the object alive so that
# the id cannot be reused while cached.
_cache: dict[tuple[int, str], tuple[dict[str, Any], CompiledSchema | None]] = {}
_cache_lock = threading.Lock()


def admit(state: ClusterState, target: Target, new: dict[str, Any], old: Any = None) -> None:
    """Coerce and validate ``new`` (about to be stored; ``old`` is the stored one on updates)."""
    info = target.info
    if info.builtin:  # no schema here but ObjectMeta's, which decoding applies to every kind
        _drop_unknown_metadata(target, new)
    if is_crd(info):
        if not target.subresource:
            check_crd(new, old)
        return
    if info.builtin:
        return
    version = target.version or _version_of(new, info)
    compiled = schema_for(state, info, version)
    if compiled is None:
        return
    if compiled.prune and target.field_validation != "Ignore":  # what pruning will drop
        _report_unknown(target, unknown_fields(new, compiled.root), version)
    _coerce_copy(new, compiled)
    errors = validate(new, compiled.root, MISSING if old is None else old)
    if errors:
        name = str((new.get("metadata") or {}).get("name") or target.name)
        raise invalid_status(info.kind, info.group, name, errors)


def _drop_unknown_metadata(target: Target, new: dict[str, Any]) -> None:
    """A built-in kind's unknown ``metadata`` fields: reported as a custom resource's
    unknown fields are, then dropped, as decoding into ObjectMeta drops them."""
    metadata = new.get("metadata")
    if not isinstance(metadata, dict):
        return
    unknown = sorted(unknown_metadata(metadata))
    if unknown and target.field_validation != "Ignore":
        version = target.version or _version_of(new, target.info)
        _report_unknown(target, [f"metadata.{key}" for key in unknown], version)
    for key in unknown:
        del metadata[key]


def _report_unknown(target: Target, paths: list[str], version: str) -> None:
    """``fieldValidation=Strict`` refuses unknown fields with a 400 worded as kube-apiserver's
    strict decoder words it; "Warn" notes a warning for each."""
    unknown = [f"unknown field {quote(path)}" for path in paths]
    if not unknown:
        return
    if target.field_validation != "Strict":
        target.warnings.extend(unknown)
        return
    kind = target.info.kind
    raise ApiStatusError(
        400,
        f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding'
        f" error: {', '.join(unknown)}",
    )


def _coerce_copy(new: dict[str, Any], compiled: CompiledSchema) -> None:
    """Coerce ``new`` without touching what it shares with the stored object (an update
    carries the stored status over by reference). The root metadata is kept as the same dict:
    coercion leaves it alone, and the caller goes on writing into it."""
    coerced = {key: clone(value) for key, value in new.items() if key != "metadata"}
    if "metadata" in new:
        coerced["metadata"] = new["metadata"]
    coerce(coerced, compiled)
    new.clear()
    new.update(coerced)


def _version_of(obj: dict[str, Any], info: KindInfo) -> str:
    api_version = obj.get("apiVersion")
    version = api_version.rpartition("/")[2] if isinstance(api_version, str) else ""
    return version if version in info.versions else info.storage_version


# -- schema lookup ---------------------------------------------------------------------------
def stored_crd(state: ClusterState, info: KindInfo) -> dict[str, Any] | None:
    """The stored CustomResourceDefinition serving ``info``, if any (``terminating.crd_of``)."""
    found = crd_of(state, info)
    return None if found is None else found[1].obj


def schema_for(state: ClusterState, info: KindInfo, version: str) -> CompiledSchema | None:
    """The compiled schema of ``version`` of a custom kind; None when it has none to apply."""
    crd = stored_crd(state, info)
    return None if crd is None else compiled_version(crd, version)


def compiled_version(crd: dict[str, Any], version: str) -> CompiledSchema | None:
    key = (id(crd), version)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] is crd:
        return hit[1]
    compiled = _compile_version(crd, version)
    with _cache_lock:
        if len(_cache) >= CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[key] = (crd, compiled)
    return compiled


def _compile_version(crd: dict[str, Any], version: str) -> CompiledSchema | None:
    spec = crd.get("spec")
    versions = spec.get("versions") if isinstance(spec, dict) else None
    if not isinstance(spec, dict) or not isinstance(versions, list):
        return None
    for index, entry in enumerate(versions[:MAX_VERSIONS]):
        if isinstance(entry, dict) and entry.get("name") == version:
            declared = entry.get("schema")
            raw = declared.get("openAPIV3Schema") if isinstance(declared, dict) else None
            if raw is None:
                return None
            compiled = compile_schema(raw, f"spec.versions[{index}].schema.openAPIV3Schema")
            if compiled.errors:
                name = (crd.get("metadata") or {}).get("name")
                problem = compiled.errors[0].text()
                logger.warning("CRD %s %s: schema not applied: %s", name, version, problem)
                return None
            compiled.prune = spec.get("preserveUnknownFields") is not True
            return compiled
    return None


# -- CustomResourceDefinition checks ---------------------------------------------------------
def check_crd(crd: Any, old: Any = None) -> None:
    """422 when a CRD's schemas are unusable; versions whose schema is unchanged since
    ``old`` (the stored CRD, on updates) are not checked again."""
    errors = crd_errors(crd, old)
    if errors:
        name = str(((crd.get("metadata") or {}) if isinstance(crd, dict) else {}).get("name"))
        raise invalid_status(CRD_KIND, CRD_GROUP, name, errors)


def _schemas_by_version(crd: Any) -> dict[str, Any]:
    spec = crd.get("spec") if isinstance(crd, dict) else None
    versions = spec.get("versions") if isinstance(spec, dict) else None
    if not isinstance(versions, list):
        return {}
    return {
        str(entry.get("name")): entry.get("schema")
        for entry in versions[:MAX_VERSIONS]
        if isinstance(entry, dict)
    }


def crd_errors(crd: Any, old: Any = None) -> list[FieldError]:
    spec = crd.get("spec") if isinstance(crd, dict) else None
    if not isinstance(spec, dict):
        return []  # kinds.kind_from_crd answers malformed specs
    errors: list[FieldError] = []
    old_spec = old.get("spec") if isinstance(old, dict) else None
    was_preserving = isinstance(old_spec, dict) and old_spec.get("preserveUnknownFields") is True
    if spec.get("preserveUnknownFields") is True and not was_preserving:
        errors.append(invalid("spec.preserveUnknownFields", True, "must be false"))
    versions = spec.get("versions")
    old_schemas = _schemas_by_version(old)
    budget = [MAX_NODES_VISITED]
    for index, entry in enumerate(versions[:MAX_VERSIONS] if isinstance(versions, list) else []):
        if not isinstance(entry, dict) or "schema" not in entry:
            continue
        previous = old_schemas.get(str(entry.get("name")), MISSING)
        if previous is not MISSING and json_equal(previous, entry["schema"], budget):
            continue  # accepted when it was stored
        errors.extend(_version_errors(entry["schema"], index))
    return errors


def _version_errors(declared: Any, index: int) -> list[FieldError]:
    base = f"spec.versions[{index}].schema.openAPIV3Schema"
    raw = declared.get("openAPIV3Schema") if isinstance(declared, dict) else None
    if raw is None:
        return [required(base, "schemas are required")]
    compiled = compile_schema(raw, base)
    return compiled.errors or _default_errors(compiled)


def _default_errors(compiled: CompiledSchema) -> list[FieldError]:
    """Defaults must be pruned already and valid against their own schema."""
    errors: list[FieldError] = []
    for path, node, in_root_metadata in compiled.defaulted[:MAX_DEFAULTS_CHECKED]:
        where = f"{path}.default"
        if in_root_metadata:
            errors.append(forbidden(where, "must not be set in top-level metadata"))
            continue
        pruned = clone(node.default)
        prune(pruned, node, is_resource=node.embedded_resource)
        if not json_equal(pruned, node.default, [MAX_NODES_VISITED]):
            errors.append(invalid(where, node.default, "must not have unknown fields"))
            continue
        errors.extend(validate(clone(node.default), node, base=where))
    return errors


# -- reads from storage ----------------------------------------------------------------------
def refresh_stored_objects(state: ClusterState, crd: dict[str, Any]) -> int:
    """Coerce the stored objects of the kind ``crd`` serves with its current schemas, in place
    and without a watch event (a real server defaults on every read, and never writes that
    back); returns how many changed."""
    spec = crd.get("spec")
    names = spec.get("names") if isinstance(spec, dict) else None
    if not isinstance(spec, dict) or not isinstance(names, dict):
        return 0
    info = state.registry.by_resource(str(spec.get("group")), str(names.get("plural")))
    if info is None or info.builtin:
        return 0
    changed = 0
    with state.lock:
        items, _ = state.items(info)
        for stored in items[:MAX_REFRESHED_OBJECTS]:
            compiled = compiled_version(crd, _version_of(stored.obj, info))
            if compiled is None:
                continue
            refreshed = clone(stored.obj)
            try:
                coerce(refreshed, compiled)
            except ApiStatusError as error:
                name = (stored.obj.get("metadata") or {}).get("name")
                logger.warning("%s %s not refreshed: %s", info.kind, name, error.message)
                continue
            if not json_equal(refreshed, stored.obj, [MAX_NODES_VISITED]):
                state.put(info, refreshed, "MODIFIED", emit=False)
                changed += 1
    return changed
