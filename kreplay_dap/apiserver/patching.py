"""Patch application: JSON patch (RFC 6902), JSON merge patch (RFC 7386), strategic merge.

All three work iteratively with explicit, bounded work stacks (no recursion). Strategic merge
covers what kubectl and operators send for the built-in kinds: lists merged by their merge
key (containers/env/volumes by name, ports by containerPort or port, volumeMounts by
mountPath, conditions by type, ...), ``$patch: delete``/``replace``, ``$retainKeys``,
``$deleteFromPrimitiveList/<field>`` and ``$setElementOrder/<field>`` (accepted, ignored).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar, cast

from kreplay_dap.apiserver.status import ApiStatusError, bad_request

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)
MAX_PATCH_NODES = 200_000
MAX_JSON_PATCH_OPS = 10_000
T = TypeVar("T")

MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "resourceClaims": "name",
    "secrets": "name",
}
PRIMITIVE_MERGE_LISTS = frozenset({"finalizers"})


def clone(value: T) -> T:
    """A deep copy of JSON data."""
    return cast(T, json.loads(json.dumps(value)))


def child_map(obj: dict[str, Any], key: str) -> dict[str, Any]:
    """``obj[key]`` if it is a JSON object, else an empty one (for reading malformed input)."""
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def child_list(obj: dict[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    return value if isinstance(value, list) else []


def _unprocessable(message: str) -> ApiStatusError:
    return ApiStatusError(
        422, f"the server rejected our request due to an error in our request: {message}"
    )


# -- RFC 7386 --------------------------------------------------------------------------------
def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return clone(patch)
    result = clone(target) if isinstance(target, dict) else {}
    stack: list[tuple[dict[str, Any], dict[str, Any]]] = [(result, patch)]
    budget = MAX_PATCH_NODES
    while stack:
        budget -= 1
        if budget < 0:
            raise bad_request("patch too large")
        current, changes = stack.pop()
        for key, value in changes.items():
            if value is None:
                current.pop(key, None)
            elif isinstance(value, dict):
                child = current.get(key)
                if not isinstance(child, dict):
                    child = current[key] = {}
                stack.append((child, value))
            else:
                current[key] = clone(value)
    return result


# -- RFC 6902 --------------------------------------------------------------------------------
def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise bad_request(f"invalid JSON pointer {path!r}")
    if not path:
        return []
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(document: Any, parts: list[str]) -> tuple[Any, str]:
    if not parts:
        raise _unprocessable("the root cannot be the target of this operation")
    node = document
    for part in parts[:-1]:
        node = _child(node, part)
    return node, parts[-1]


def _child(node: Any, part: str) -> Any:
    if isinstance(node, dict) and part in node:
        return node[part]
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    raise _unprocessable(f"path element {part!r} does not exist")


def _get(document: Any, parts: list[str]) -> Any:
    node = document
    for part in parts:
        node = _child(node, part)
    return node


def _add(document: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent, last = _parent(document, parts)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        index = len(parent) if last == "-" else _index(last, len(parent) + 1)
        parent.insert(index, value)
    else:
        raise _unprocessable(f"cannot add {last!r} to a scalar")
    return document


def _index(part: str, size: int) -> int:
    if not part.isdigit() or int(part) >= size:
        raise _unprocessable(f"array index {part!r} out of range")
    return int(part)


def _remove(document: Any, parts: list[str]) -> Any:
    parent, last = _parent(document, parts)
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(last, len(parent)))
    raise _unprocessable(f"cannot remove {last!r}: it does not exist")


def _apply_operation(document: Any, operation: Any) -> Any:
    if not isinstance(operation, dict) or not isinstance(operation.get("op"), str):
        raise bad_request("each JSON patch operation must be an object with an 'op'")
    op = operation["op"]
    parts = _pointer(operation.get("path"))
    if op in ("add", "replace", "test") and "value" not in operation:
        raise bad_request(f"JSON patch {op!r} needs a value")
    if op == "add":
        return _add(document, parts, clone(operation["value"]))
    if op == "remove":
        _remove(document, parts)
        return document
    if op == "replace":
        _get(document, parts)
        if not parts:
            return clone(operation["value"])
        _remove(document, parts)
        return _add(document, parts, clone(operation["value"]))
    if op == "test":
        if _get(document, parts) != operation["value"]:
            raise _unprocessable(f"test operation failed at {operation.get('path')}")
        return document
    if op in ("move", "copy"):
        source = _pointer(operation.get("from"))
        value = _remove(document, source) if op == "move" else clone(_get(document, source))
        return _add(document, parts, value)
    raise bad_request(f"unknown JSON patch operation {op!r}")


def json_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, list):
        raise bad_request("a JSON patch must be a list of operations")
    if len(patch) > MAX_JSON_PATCH_OPS:
        raise bad_request(f"JSON patch has more than {MAX_JSON_PATCH_OPS} operations")
    document = clone(target)
    for operation in patch:
        document = _apply_operation(document, operation)
    return document


# -- strategic merge -------------------------------------------------------------------------
def _strip_directives(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if not k.startswith("$")}


def _list_merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        dicts = [i for i in items if isinstance(i, dict)]
        return "containerPort" if any("containerPort" in i for i in dicts) else "port"
    return MERGE_KEYS.get(field)


def _merge_list(
    field: str, current: Any, patch: list[Any], stack: list[tuple[dict[str, Any], dict[str, Any]]]
) -> list[Any]:
    replace = [i for i in patch if isinstance(i, dict) and i.get("$patch") == "replace"]
    if replace:
        return [clone(_strip_directives(i)) if isinstance(i, dict) else i for i in patch
                if i not in replace]  # fmt: skip
    existing = clone(current) if isinstance(current, list) else []
    if field in PRIMITIVE_MERGE_LISTS:
        return existing + [i for i in clone(patch) if i not in existing]
    key = _list_merge_key(field, existing + patch)
    if key is None:
        return clone(patch)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise bad_request(f"strategic merge patch: items of {field!r} need the key {key!r}")
        match = next((e for e in existing if isinstance(e, dict) and e.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            existing = [e for e in existing if e is not match]
        elif match is not None:
            stack.append((match, item))
        else:
            fresh: dict[str, Any] = {}
            existing.append(fresh)
            stack.append((fresh, item))
    return existing


def _merge_map(
    current: dict[str, Any],
    patch: dict[str, Any],
    stack: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    if patch.get("$patch") == "replace":
        current.clear()
        current.update(clone(_strip_directives(patch)))
        return
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/") and isinstance(value, list):
            field = key.partition("/")[2]
            if isinstance(current.get(field), list):
                current[field] = [i for i in current[field] if i not in value]
        elif key.startswith("$"):
            continue
        elif value is None:
            current.pop(key, None)
        elif isinstance(value, dict):
            _merge_child_map(current, key, value, stack)
        elif isinstance(value, list):
            current[key] = _merge_list(key, current.get(key), value, stack)
        else:
            current[key] = value
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        for key in [k for k in current if k not in retain]:
            del current[key]


def _merge_child_map(
    current: dict[str, Any],
    key: str,
    value: dict[str, Any],
    stack: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    directive = value.get("$patch")
    if directive == "delete":
        current.pop(key, None)
    elif directive == "replace":
        current[key] = clone(_strip_directives(value))
    else:
        child = current.get(key)
        if not isinstance(child, dict):
            child = current[key] = {}
        stack.append((child, value))


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        raise bad_request("a strategic merge patch must be a JSON object")
    result = clone(target) if isinstance(target, dict) else {}
    stack: list[tuple[dict[str, Any], dict[str, Any]]] = [(result, patch)]
    budget = MAX_PATCH_NODES
    while stack:
        budget -= 1
        if budget < 0:
            raise bad_request("patch too large")
        current, changes = stack.pop()
        _merge_map(current, changes, stack)
    return result


def apply_patch(content_type: str, target: dict[str, Any], patch: Any, builtin: bool) -> Any:
    """Apply a patch of the given media type; unknown types get 415 like the API server."""
    if content_type == JSON_PATCH:
        return json_patch(target, patch)
    if content_type == MERGE_PATCH:
        return merge_patch(target, patch)
    if content_type == STRATEGIC_MERGE_PATCH and builtin:
        return strategic_merge_patch(target, patch)
    accepted = ", ".join(t for t in PATCH_TYPES if builtin or t != STRATEGIC_MERGE_PATCH)
    raise ApiStatusError(
        415,
        "the body of the request was in an unknown format - accepted media types include: "
        + accepted,
    )
