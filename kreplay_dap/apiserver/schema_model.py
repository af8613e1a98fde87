"""A CRD version's ``openAPIV3Schema`` compiled to a tree of ``SchemaNode``, checked on the way.

``compile_schema(raw, base)`` reads the schema iteratively (an explicit work list, bounded in
depth and size) and reports, with kube-apiserver's field paths and wording, what makes a v1
schema unusable: what the structural-schema rules of k8s.io/apiextensions-apiserver forbid
(a missing ``type``, ``properties`` next to ``additionalProperties``, ``metadata`` restricted
beyond ``name``/``generateName``, types inside ``allOf``/``anyOf``/``oneOf``/``not``, ...) and
keywords v1 does not support (``$ref``, ``patternProperties``, ``uniqueItems``, ...).
Not checked: that every field named in a junctor is also specified outside it, and CEL rules
(``x-kubernetes-validations`` are accepted and ignored). ``pattern``s run on Python's ``re``:
RE2's ``\\z`` is mapped, look-arounds and back-references are refused as RE2 refuses them, and
a pattern with Unicode classes (``\\p{L}``), which ``re`` lacks, is accepted but not enforced.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from kreplay_dap.apiserver.schema_errors import (
    FieldError,
    forbidden,
    invalid,
    not_supported,
    required,
)

logger = logging.getLogger(__name__)

MAX_SCHEMA_DEPTH = 64
MAX_SCHEMA_NODES = 20_000
MAX_KEYWORD_ENTRIES = 10_000
MAX_PATTERN_LENGTH = 4_096
TYPES = ("array", "boolean", "integer", "number", "object", "string")
LIST_TYPES = ("atomic", "map", "set")
JUNCTORS = ("allOf", "anyOf", "oneOf")
ROOT, ITEM, FIELD = "root", "item", "field"
_EMPTY_TYPE = {
    ROOT: "must not be empty at the root",
    ITEM: "must not be empty for specified array items",
    FIELD: "must not be empty for specified object fields",
}
# Keywords an apiextensions.k8s.io/v1 schema may not use, with the API server's words.
_UNSUPPORTED = {
    "$ref": "$ref is not supported",
    "id": "id is not supported",
    "patternProperties": "patternProperties is not supported",
    "definitions": "definitions is not supported",
    "dependencies": "dependencies is not supported",
    "additionalItems": "additionalItems is not supported",
}
# Go's RE2 has no look-around and no back-references; refusing them also keeps Python's
# backtracking engine away from its worst cases.
_NOT_RE2 = re.compile(r"\(\?<?[=!]|\(\?P=|(?<!\\)(?:\\\\)*\\[1-9]")
# RE2 syntax Python's re lacks: \z is \Z there; Unicode classes (\p{L}) have no equivalent.
_RE2_END = re.compile(r"(?<!\\)((?:\\\\)*)\\z")
_RE2_UNICODE_CLASS = re.compile(r"(?<!\\)(?:\\\\)*\\[pP]")
# Inside allOf/anyOf/oneOf/not only value validations are structural.
_JUNCTOR_FORBIDDEN = {
    "additionalProperties": "must be undefined to be structural",
    "default": "must be undefined to be structural",
    "title": "must be empty to be structural",
    "description": "must be empty to be structural",
    "x-kubernetes-list-map-keys": "must be empty to be structural",
    "x-kubernetes-list-type": "must be undefined to be structural",
}
_JUNCTOR_FLAGS = {
    "nullable": "must be false to be structural",
    "x-kubernetes-preserve-unknown-fields": "must be false to be structural",
    "x-kubernetes-embedded-resource": "must be false to be structural",
    "x-kubernetes-int-or-string": "must be false to be structural",
}


@dataclass(slots=True, eq=False)
class SchemaNode:
    """One schema level; ``default`` None means no default (a null default is no default)."""

    type: str = ""
    nullable: bool = False
    format: str = ""
    properties: dict[str, SchemaNode] = field(default_factory=dict)
    additional: SchemaNode | None = None  # the additionalProperties schema
    additional_present: bool = False  # additionalProperties given (a schema, true or false)
    additional_allowed: bool = True  # False for additionalProperties: false
    items: SchemaNode | None = None
    required: tuple[str, ...] = ()
    enum: tuple[Any, ...] | None = None
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    multiple_of: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    min_properties: int | None = None
    max_properties: int | None = None
    pattern: re.Pattern[str] | None = None
    pattern_text: str = ""
    preserve_unknown: bool = False
    embedded_resource: bool = False
    int_or_string: bool = False
    list_type: str = ""
    list_map_keys: tuple[str, ...] = ()
    junctors: list[tuple[str, list[SchemaNode]]] = field(default_factory=list)


@dataclass(slots=True)
class CompiledSchema:
    """The root node, where defaults are (schema path, node, in the root's metadata), errors."""

    root: SchemaNode
    defaulted: list[tuple[str, SchemaNode, bool]] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    prune: bool = True  # False when the CRD sets spec.preserveUnknownFields


@dataclass(slots=True)
class _Pending:
    """A raw schema waiting to be read into ``node``."""

    raw: Any
    node: SchemaNode
    path: str
    level: str
    depth: int
    in_junctor: bool = False
    in_root_metadata: bool = False
    int_or_string_branch: bool = False  # may say type integer/string (the int-or-string idiom)


def compile_schema(raw: Any, base: str) -> CompiledSchema:
    """Compile ``raw`` (found at field path ``base`` of the CRD); ``errors`` lists what is
    wrong with it, and the tree is only meant to be used when that list is empty."""
    compiled = CompiledSchema(SchemaNode())
    pending = [_Pending(raw, compiled.root, base, ROOT, 0)]
    budget = MAX_SCHEMA_NODES
    while pending:
        item = pending.pop()
        budget -= 1
        if budget < 0:
            compiled.errors.append(forbidden(base, f"must have at most {MAX_SCHEMA_NODES} nodes"))
            break
        if item.depth > MAX_SCHEMA_DEPTH:
            detail = f"must not nest deeper than {MAX_SCHEMA_DEPTH} levels"
            compiled.errors.append(forbidden(item.path, detail))
            continue
        if not isinstance(item.raw, dict):
            compiled.errors.append(invalid(item.path, item.raw, "must be a JSON object"))
            continue
        _read_node(item, compiled.errors)
        if item.in_junctor:
            _check_junctor_branch(item, compiled.errors)
        else:
            _check_structural(item, compiled.errors)
            if item.node.default is not None:
                compiled.defaulted.append((item.path, item.node, item.in_root_metadata))
        pending.extend(reversed(_children(item, compiled.errors)))
    return compiled


# -- keywords --------------------------------------------------------------------------------
def _flag(raw: dict[str, Any], key: str, path: str, errors: list[FieldError]) -> bool:
    value = raw.get(key, False)
    if isinstance(value, bool):
        return value
    errors.append(invalid(f"{path}.{key}", value, "must be a boolean"))
    return False


def _number(raw: dict[str, Any], key: str, path: str, errors: list[FieldError]) -> float | None:
    value = raw.get(key)
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    errors.append(invalid(f"{path}.{key}", value, "must be a number"))
    return None


def _count(raw: dict[str, Any], key: str, path: str, errors: list[FieldError]) -> int | None:
    value = raw.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    errors.append(invalid(f"{path}.{key}", value, "must be a non-negative integer"))
    return None


def _text(raw: dict[str, Any], key: str, path: str, errors: list[FieldError]) -> str:
    value = raw.get(key, "")
    if isinstance(value, str):
        return value
    errors.append(invalid(f"{path}.{key}", value, "must be a string"))
    return ""


def _names(raw: dict[str, Any], key: str, path: str, errors: list[FieldError]) -> tuple[str, ...]:
    value = raw.get(key, [])
    listed = isinstance(value, list) and len(value) <= MAX_KEYWORD_ENTRIES
    if listed and all(isinstance(name, str) for name in value):
        return tuple(value)
    errors.append(invalid(f"{path}.{key}", value, "must be a list of strings"))
    return ()


def _read_node(item: _Pending, errors: list[FieldError]) -> None:
    raw, node, path = item.raw, item.node, item.path
    for keyword, why in _UNSUPPORTED.items():
        if keyword in raw:
            errors.append(forbidden(f"{path}.{keyword}", why))
    node.type = _text(raw, "type", path, errors)
    if node.type == "null":
        why = "type cannot be set to null, use nullable as an alternative"
        errors.append(forbidden(f"{path}.type", why))
        node.type = ""
    elif node.type and node.type not in TYPES:
        errors.append(not_supported(f"{path}.type", node.type, list(TYPES)))
        node.type = ""
    node.nullable = _flag(raw, "nullable", path, errors)
    node.embedded_resource = _flag(raw, "x-kubernetes-embedded-resource", path, errors)
    node.int_or_string = _flag(raw, "x-kubernetes-int-or-string", path, errors)
    preserve = raw.get("x-kubernetes-preserve-unknown-fields")
    if preserve is False:
        key = f"{path}.x-kubernetes-preserve-unknown-fields"
        errors.append(invalid(key, False, "must be true or undefined"))
    node.preserve_unknown = _flag(raw, "x-kubernetes-preserve-unknown-fields", path, errors)
    if _flag(raw, "uniqueItems", path, errors):
        why = "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
        errors.append(forbidden(f"{path}.uniqueItems", why))
    node.format = _text(raw, "format", path, errors)
    node.default = raw.get("default")
    _read_limits(item, errors)
    _read_value_lists(item, errors)
    _read_pattern(item, errors)


def _read_limits(item: _Pending, errors: list[FieldError]) -> None:
    raw, node, path = item.raw, item.node, item.path
    node.minimum = _number(raw, "minimum", path, errors)
    node.maximum = _number(raw, "maximum", path, errors)
    node.multiple_of = _number(raw, "multipleOf", path, errors)
    if node.multiple_of is not None and node.multiple_of <= 0:
        errors.append(invalid(f"{path}.multipleOf", node.multiple_of, "must be positive"))
        node.multiple_of = None
    node.exclusive_minimum = _flag(raw, "exclusiveMinimum", path, errors)
    node.exclusive_maximum = _flag(raw, "exclusiveMaximum", path, errors)
    node.min_length = _count(raw, "minLength", path, errors)
    node.max_length = _count(raw, "maxLength", path, errors)
    node.min_items = _count(raw, "minItems", path, errors)
    node.max_items = _count(raw, "maxItems", path, errors)
    node.min_properties = _count(raw, "minProperties", path, errors)
    node.max_properties = _count(raw, "maxProperties", path, errors)


def _read_value_lists(item: _Pending, errors: list[FieldError]) -> None:
    raw, node, path = item.raw, item.node, item.path
    node.required = _names(raw, "required", path, errors)
    enum = raw.get("enum")
    if isinstance(enum, list) and len(enum) <= MAX_KEYWORD_ENTRIES:
        node.enum = tuple(enum)
    elif enum is not None:
        errors.append(invalid(f"{path}.enum", enum, "must be a list of values"))
    node.list_type = _text(raw, "x-kubernetes-list-type", path, errors)
    if node.list_type and node.list_type not in LIST_TYPES:
        key = f"{path}.x-kubernetes-list-type"
        errors.append(not_supported(key, node.list_type, list(LIST_TYPES)))
        node.list_type = ""
    node.list_map_keys = _names(raw, "x-kubernetes-list-map-keys", path, errors)


def _read_pattern(item: _Pending, errors: list[FieldError]) -> None:
    pattern = _text(item.raw, "pattern", item.path, errors)
    if not pattern:
        return
    key = f"{item.path}.pattern"
    if len(pattern) > MAX_PATTERN_LENGTH or _NOT_RE2.search(pattern):
        why = "must be a valid regular expression, but isn't: not supported by RE2"
        errors.append(invalid(key, pattern, why))
        return
    try:
        item.node.pattern = re.compile(_RE2_END.sub(r"\1\\Z", pattern))
    except re.error as error:
        if _RE2_UNICODE_CLASS.search(pattern):
            logger.warning("%s: pattern %r is not enforced: %s", key, pattern, error)
            return
        why = f"must be a valid regular expression, but isn't: {error}"
        errors.append(invalid(key, pattern, why))
        return
    item.node.pattern_text = pattern


# -- structure -------------------------------------------------------------------------------
def _check_structural(item: _Pending, errors: list[FieldError]) -> None:
    raw, node, path = item.raw, item.node, item.path
    if not node.type and raw.get("type"):
        return  # an unsupported type was reported; its structure cannot be judged
    if node.type == "array" and "items" not in raw:
        errors.append(required(f"{path}.items", "must be specified"))
    if node.embedded_resource and node.type != "object":
        why = "must be object if x-kubernetes-embedded-resource is true"
        errors.append(
            invalid(f"{path}.type", node.type, why) if node.type else required(f"{path}.type", why)
        )
    elif not node.type and not node.int_or_string and not node.preserve_unknown:
        errors.append(required(f"{path}.type", _EMPTY_TYPE[item.level]))
    if item.level == ROOT and node.type and node.type != "object":
        errors.append(invalid(f"{path}.type", node.type, "must be object at the root"))
    additional = raw.get("additionalProperties")
    if additional is not None:
        if item.level == ROOT:
            errors.append(forbidden(f"{path}.additionalProperties", "must not be used at the root"))
        if node.embedded_resource:
            why = "must not be used if x-kubernetes-embedded-resource is set"
            errors.append(forbidden(f"{path}.additionalProperties", why))
        if raw.get("properties") and additional is not True:
            why = "additionalProperties and properties are mutual exclusive"
            errors.append(forbidden(f"{path}.additionalProperties", why))
    _check_extensions(item, errors)
    _check_resource_meta(item, errors)
    _check_list_type(item, errors)


def _check_extensions(item: _Pending, errors: list[FieldError]) -> None:
    node, path = item.node, item.path
    why = "must be false if x-kubernetes-int-or-string is true"
    if node.int_or_string and node.preserve_unknown:
        errors.append(invalid(f"{path}.x-kubernetes-preserve-unknown-fields", True, why))
    if node.int_or_string and node.embedded_resource:
        errors.append(invalid(f"{path}.x-kubernetes-embedded-resource", True, why))
    properties = item.raw.get("properties")
    if node.embedded_resource and not node.preserve_unknown and not properties:
        why = (
            "must not be empty if x-kubernetes-embedded-resource is true without"
            " x-kubernetes-preserve-unknown-fields"
        )
        errors.append(required(f"{path}.properties", why))


def _check_resource_meta(item: _Pending, errors: list[FieldError]) -> None:
    """At the root and in embedded resources, kind/apiVersion are strings and metadata an
    object; at the root metadata may only restrict name and generateName."""
    properties = item.raw.get("properties")
    if not isinstance(properties, dict) or not (item.level == ROOT or item.node.embedded_resource):
        return
    for name, wanted in (("kind", "string"), ("apiVersion", "string"), ("metadata", "object")):
        declared = properties.get(name)
        if isinstance(declared, dict) and declared.get("type") != wanted:
            key = f"{item.path}.properties[{name}].type"
            errors.append(invalid(key, declared.get("type", ""), f"must be {wanted}"))
    metadata = properties.get("metadata")
    if item.level != ROOT or not isinstance(metadata, dict):
        return
    named = metadata.get("properties") or {}
    extra_keys = set(metadata) - {"type", "properties", "default"}
    if extra_keys or not isinstance(named, dict) or set(named) - {"name", "generateName"}:
        why = (
            "must not specify anything other than name and generateName, but metadata is"
            " implicitly specified"
        )
        errors.append(forbidden(f"{item.path}.properties[metadata]", why))


def _check_list_type(item: _Pending, errors: list[FieldError]) -> None:
    node, path = item.node, item.path
    if node.list_type and node.type != "array":
        why = "must be array if x-kubernetes-list-type is specified"
        errors.append(
            invalid(f"{path}.type", node.type, why) if node.type else required(f"{path}.type", why)
        )
    if node.list_map_keys and node.list_type != "map":
        why = "must be map if x-kubernetes-list-map-keys is non-empty"
        errors.append(invalid(f"{path}.x-kubernetes-list-type", node.list_type, why))
    if node.list_type != "map":
        return
    if not node.list_map_keys:
        why = "must not be empty if x-kubernetes-list-type is map"
        errors.append(required(f"{path}.x-kubernetes-list-map-keys", why))
    items = item.raw.get("items")
    item_properties = items.get("properties") if isinstance(items, dict) else None
    if not isinstance(items, dict) or items.get("type") != "object":
        why = "must be object if parent array's x-kubernetes-list-type is map"
        found = items.get("type", "") if isinstance(items, dict) else ""
        errors.append(invalid(f"{path}.items.type", found, why))
    elif not isinstance(item_properties, dict) or set(node.list_map_keys) - set(item_properties):
        why = "entries must all be names of item properties"
        errors.append(invalid(f"{path}.x-kubernetes-list-map-keys", list(node.list_map_keys), why))


def _check_junctor_branch(item: _Pending, errors: list[FieldError]) -> None:
    raw, path = item.raw, item.path
    if "type" in raw and not (item.int_or_string_branch and set(raw) == {"type"}):
        errors.append(forbidden(f"{path}.type", "must be empty to be structural"))
    for keyword, why in _JUNCTOR_FORBIDDEN.items():
        if keyword in raw:
            errors.append(forbidden(f"{path}.{keyword}", why))
    for keyword, why in _JUNCTOR_FLAGS.items():
        if raw.get(keyword) is True:
            errors.append(forbidden(f"{path}.{keyword}", why))
    properties = raw.get("properties")
    if isinstance(properties, dict) and "metadata" in properties:
        why = "must not be specified in a nested context"
        errors.append(forbidden(f"{path}.properties[metadata]", why))


# -- children --------------------------------------------------------------------------------
def _children(item: _Pending, errors: list[FieldError]) -> list[_Pending]:
    children = _property_children(item, errors)
    raw, node, path = item.raw, item.node, item.path
    items = raw.get("items")
    if isinstance(items, list):
        errors.append(forbidden(f"{path}.items", "items must be a schema object and not an array"))
    elif items is not None:
        node.items = SchemaNode()
        children.append(_child(item, items, node.items, f"{path}.items", ITEM))
    children.extend(_junctor_children(item, errors))
    return children


def _child(parent: _Pending, raw: Any, node: SchemaNode, path: str, level: str) -> _Pending:
    return _Pending(raw, node, path, level, parent.depth + 1, parent.in_junctor,
                    parent.in_root_metadata, parent.int_or_string_branch)  # fmt: skip


def _property_children(item: _Pending, errors: list[FieldError]) -> list[_Pending]:
    raw, node, path = item.raw, item.node, item.path
    children: list[_Pending] = []
    properties = raw.get("properties", {})
    if not isinstance(properties, dict) or len(properties) > MAX_KEYWORD_ENTRIES:
        why = f"must be a JSON object of at most {MAX_KEYWORD_ENTRIES} properties"
        errors.append(invalid(f"{path}.properties", "", why))
        properties = {}
    for name, declared in properties.items():
        node.properties[name] = child_node = SchemaNode()
        child = _child(item, declared, child_node, f"{path}.properties[{name}]", FIELD)
        child.in_root_metadata = item.in_root_metadata or (
            item.level == ROOT and name == "metadata"
        )
        children.append(child)
    additional = raw.get("additionalProperties")
    if additional is None:
        return children
    node.additional_present = True
    if isinstance(additional, bool):
        node.additional_allowed = additional
    else:
        node.additional = SchemaNode()
        key = f"{path}.additionalProperties"
        children.append(_child(item, additional, node.additional, key, FIELD))
    return children


def _junctor_children(item: _Pending, errors: list[FieldError]) -> list[_Pending]:
    raw, node, path = item.raw, item.node, item.path
    children: list[_Pending] = []
    owned_by_int_or_string = item.int_or_string_branch or (
        node.int_or_string and not item.in_junctor
    )
    for junctor in (*JUNCTORS, "not"):
        if junctor not in raw:
            continue
        declared = [raw[junctor]] if junctor == "not" else raw[junctor]
        if not isinstance(declared, list) or len(declared) > MAX_KEYWORD_ENTRIES:
            errors.append(invalid(f"{path}.{junctor}", declared, "must be a list of schemas"))
            continue
        branches: list[SchemaNode] = []
        for index, branch in enumerate(declared):
            branches.append(SchemaNode())
            where = f"{path}.not" if junctor == "not" else f"{path}.{junctor}[{index}]"
            child = _child(item, branch, branches[-1], where, item.level)
            child.in_junctor = True
            child.int_or_string_branch = owned_by_int_or_string
            children.append(child)
        node.junctors.append((junctor, branches))
    return children
