"""What kube-apiserver does to a custom resource before validating it: pruning, dropping nulls
the schema does not allow, defaulting (k8s.io/apiextensions-apiserver pruning and defaulting).

- ``prune``: removes every field the schema does not specify, except below a level with
  ``x-kubernetes-preserve-unknown-fields: true`` (whose specified fields are still pruned by
  their own schemas); ``apiVersion``, ``kind`` and ``metadata`` of the resource root and of
  ``x-kubernetes-embedded-resource`` objects are kept (an embedded ``metadata`` loses the keys
  ObjectMeta does not have; the root's metadata is the object lifecycle's business).
- ``drop_null_fields``: removes ``null`` fields whose schema is neither nullable nor defaulted.
- ``apply_defaults``: fills missing fields (and non-nullable nulls) with a copy of their
  ``default``, then defaults inside them too.

All three walk with an explicit stack, bounded in depth and in nodes visited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kreplay_dap.apiserver.patching import clone
from kreplay_dap.apiserver.schema_model import CompiledSchema, SchemaNode
from kreplay_dap.apiserver.status import ApiStatusError
from recorder.capture.decode import OBJECT_META_KEYS

MAX_OBJECT_DEPTH = 128
MAX_NODES_VISITED = 10_000_000  # a safety bound: a 3 MiB body holds at most ~1.5M values
RESOURCE_META_FIELDS = frozenset({"apiVersion", "kind", "metadata"})
OBJECT_META_FIELDS = frozenset(OBJECT_META_KEYS)


def unknown_metadata(metadata: dict[str, Any]) -> list[str]:
    """The keys of a ``metadata`` object that ObjectMeta does not have, in their order:
    decoding into ObjectMeta drops them."""
    return [key for key in metadata if key not in OBJECT_META_FIELDS]


def too_deep() -> ApiStatusError:
    return ApiStatusError(400, f"the object nests deeper than {MAX_OBJECT_DEPTH} levels")


def too_large() -> ApiStatusError:
    return ApiStatusError(413, f"the object has more than {MAX_NODES_VISITED} values")


class _Budget:
    """Counts visits; raises once the object is too deep or too large to walk."""

    def __init__(self) -> None:
        self.left = MAX_NODES_VISITED

    def spend(self, depth: int, value: Any) -> None:
        """One more value visited, at ``depth``; a list or object pays for its entries too."""
        self.left -= 1 + (len(value) if isinstance(value, list | dict) else 0)
        if self.left < 0:
            raise too_large()
        if depth > MAX_OBJECT_DEPTH:
            raise too_deep()


def coerce(obj: dict[str, Any], compiled: CompiledSchema) -> None:
    """Prune, drop disallowed nulls and default ``obj`` (a resource) in place."""
    if not compiled.prune:
        return  # spec.preserveUnknownFields: stored as sent, and defaults need pruning
    prune(obj, compiled.root, is_resource=True)
    drop_null_fields(obj, compiled.root)
    apply_defaults(obj, compiled.root)


def prune(value: Any, schema: SchemaNode, is_resource: bool = False) -> None:
    """Remove from ``value`` (in place) the fields ``schema`` does not specify."""
    budget = _Budget()
    stack: list[tuple[Any, SchemaNode | None, bool, int]] = [(value, schema, is_resource, 0)]
    while stack:
        current, node, resource, depth = stack.pop()
        budget.spend(depth, current)
        if isinstance(current, list):
            items = node.items if node is not None else None
            stack.extend((item, items, False, depth + 1) for item in current)
        elif isinstance(current, dict):
            stack.extend(_prune_object(current, node, resource, depth))


def _prune_object(
    current: dict[str, Any], node: SchemaNode | None, resource: bool, depth: int
) -> list[tuple[Any, SchemaNode | None, bool, int]]:
    if node is None:
        current.clear()  # a level without a schema keeps nothing
        return []
    keep_meta = resource or node.embedded_resource
    children: list[tuple[Any, SchemaNode | None, bool, int]] = []
    for key in list(current):
        if keep_meta and key in RESOURCE_META_FIELDS:
            continue
        declared = node.properties.get(key)
        if declared is not None:
            children.append((current[key], declared, False, depth + 1))
        elif node.additional_present:
            children.append((current[key], node.additional, False, depth + 1))
        elif not node.preserve_unknown:
            del current[key]
    metadata = current.get("metadata")
    if keep_meta and isinstance(metadata, dict):
        for key in unknown_metadata(metadata):
            del metadata[key]
    return children


def _field_schema(node: SchemaNode, key: str) -> SchemaNode | None:
    declared = node.properties.get(key)
    return declared if declared is not None else node.additional


_Child = tuple[Any, SchemaNode, int]  # a value, its schema, its depth


def _walk(
    value: Any, schema: SchemaNode, visit: Callable[[Any, SchemaNode, int], list[_Child]]
) -> None:
    """Walk ``value`` with its schema, depth first and within the budget; ``visit`` changes
    one node in place and returns the children to walk next."""
    budget = _Budget()
    stack: list[_Child] = [(value, schema, 0)]
    while stack:
        current, node, depth = stack.pop()
        budget.spend(depth, current)
        stack.extend(visit(current, node, depth))


def drop_null_fields(value: Any, schema: SchemaNode) -> None:
    """Remove null fields whose schema is neither nullable nor has a default."""
    _walk(value, schema, _drop_nulls)


def _drop_nulls(current: Any, node: SchemaNode, depth: int) -> list[_Child]:
    if isinstance(current, list) and node.items is not None:
        return [(item, node.items, depth + 1) for item in current]
    children: list[_Child] = []
    if isinstance(current, dict):
        for key in list(current):
            declared = _field_schema(node, key)
            if declared is None:
                continue
            if current[key] is None and not declared.nullable and declared.default is None:
                del current[key]
            else:
                children.append((current[key], declared, depth + 1))
    return children


def _is_defaultable_null(value: Any, node: SchemaNode) -> bool:
    return value is None and not node.nullable and node.default is not None


def apply_defaults(value: Any, schema: SchemaNode) -> None:
    """Fill in defaults: a missing field, or a null one its schema does not allow."""
    _walk(value, schema, _defaults)


def _defaults(current: Any, node: SchemaNode, depth: int) -> list[_Child]:
    if isinstance(current, list) and node.items is not None:
        for index, item in enumerate(current):
            if _is_defaultable_null(item, node.items):
                current[index] = clone(node.items.default)
        return [(item, node.items, depth + 1) for item in current]
    return _default_object(current, node, depth) if isinstance(current, dict) else []


def _default_object(current: dict[str, Any], node: SchemaNode, depth: int) -> list[_Child]:
    for key, declared in node.properties.items():
        if declared.default is not None and (
            key not in current or _is_defaultable_null(current[key], declared)
        ):
            current[key] = clone(declared.default)
    children: list[_Child] = []
    for key, value in current.items():
        child_schema = _field_schema(node, key)
        if child_schema is None:
            continue
        if _is_defaultable_null(value, child_schema):
            current[key] = clone(child_schema.default)  # replaces a value: keys stay the same
        children.append((current[key], child_schema, depth + 1))
    return children


MAX_UNKNOWN_REPORTED = 100
_Visit = tuple[Any, SchemaNode | None, bool, str, int]  # value, schema, resource?, path, depth


def unknown_fields(value: Any, schema: SchemaNode) -> list[str]:
    """The paths of the fields ``prune`` would drop from a resource, and its unknown metadata
    fields: what ``fieldValidation=Strict`` refuses instead (the first 100 found)."""
    budget = _Budget()
    found: list[str] = []
    stack: list[_Visit] = [(value, schema, True, "", 0)]
    while stack and len(found) < MAX_UNKNOWN_REPORTED:
        current, node, resource, path, depth = stack.pop()
        budget.spend(depth, current)
        if isinstance(current, list):
            items = node.items if node is not None else None
            stack.extend((item, items, False, f"{path}[{index}]", depth + 1)
                         for index, item in enumerate(current))  # fmt: skip
        elif isinstance(current, dict):
            stack.extend(_unknown_in_object(current, node, (resource, path, depth + 1), found))
    return sorted(found[:MAX_UNKNOWN_REPORTED])  # sorted, as the API server reports them


def _unknown_in_object(
    current: dict[str, Any], node: SchemaNode | None, at: tuple[bool, str, int], found: list[str]
) -> list[_Visit]:
    """``_prune_object``'s choices for one object (``at``: whether it is a resource, its path,
    its children's depth), reporting what it would delete."""
    resource, path, depth = at
    children: list[_Visit] = []
    keep_meta = node is not None and (resource or node.embedded_resource)
    for key, child in current.items():
        where = f"{path}.{key}" if path else key
        if keep_meta and key in RESOURCE_META_FIELDS:
            if key == "metadata" and isinstance(child, dict):
                found.extend(f"{where}.{name}" for name in unknown_metadata(child))
            continue
        declared = node.properties.get(key) if node is not None else None
        if declared is not None:
            children.append((child, declared, False, where, depth))
        elif node is not None and node.additional_present:
            children.append((child, node.additional, False, where, depth))
        elif node is None or not node.preserve_unknown:
            found.append(where)
    return children
