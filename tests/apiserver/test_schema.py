"""CRD schemas: pruning, defaulting, validation, CRD checks; through the resolver, the official
``kubernetes`` client and kubectl; and replay, which must serve recorded objects as they are."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes.client.exceptions import ApiException

from kreplay_dap.apiserver import (
    ApiServer,
    ClusterState,
    FakeBackend,
    RunningServer,
    schema,
    start_server,
)
from kreplay_dap.apiserver.objects import Target
from kreplay_dap.apiserver.patching import clone
from kreplay_dap.apiserver.replay import ReplayBackend
from kreplay_dap.apiserver.schema import crd_errors
from kreplay_dap.apiserver.schema_model import MAX_SCHEMA_DEPTH, SchemaNode, compile_schema
from kreplay_dap.apiserver.schema_prune import (
    MAX_OBJECT_DEPTH,
    apply_defaults,
    coerce,
    drop_null_fields,
    prune,
    unknown_fields,
)
from kreplay_dap.apiserver.schema_validate import json_equal, validate
from kreplay_dap.apiserver.status import ApiStatusError
from recorder.storage import Operation, RecordingWriter, SessionInfo, open_recording
from tests.apiserver.helpers import call, configmap, kubectl

client: Any = kubernetes.client
config: Any = kubernetes.config
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")

BASE = "spec.versions[0].schema.openAPIV3Schema"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
GADGETS = "/apis/example.net/v1/namespaces/default/gadgets"
SPEC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["size"],
    "properties": {
        "replicas": {"type": "integer", "default": 1, "minimum": 0, "maximum": 10},
        "size": {"type": "string", "enum": ["S", "M"]},
        "port": {"x-kubernetes-int-or-string": True,
                 "anyOf": [{"type": "integer"}, {"type": "string"}]},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "ports": {"type": "array", "x-kubernetes-list-type": "map",
                  "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "required": ["name"],
                            "properties": {"name": {"type": "string"},
                                           "number": {"type": "integer"}}}},
        "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                     "x-kubernetes-preserve-unknown-fields": True},
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                  "properties": {"known": {"type": "object",
                                           "properties": {"a": {"type": "string"}}}}},
    },
}  # fmt: skip
GADGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": SPEC_SCHEMA,
        "status": {"type": "object", "properties": {"phase": {"type": "string"},
                                                    "ready": {"type": "boolean"}}},
    },
}  # fmt: skip


def compiled(raw: dict[str, Any]) -> SchemaNode:
    result = compile_schema(raw, BASE)
    assert result.errors == []
    return result.root


def gadget_crd(schema: dict[str, Any] | None = None) -> dict[str, Any]:
    version = {"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
               "schema": {"openAPIV3Schema": schema or GADGET_SCHEMA}}  # fmt: skip
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.net"},
        "spec": {"group": "example.net", "scope": "Namespaced", "versions": [version],
                 "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"}},
    }  # fmt: skip


def gadget(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.net/v1", "kind": "Gadget", "metadata": {"name": name},
            "spec": spec}  # fmt: skip


def causes(body: Any) -> list[tuple[str, str, str]]:
    return [(c["reason"], c["field"], c["message"]) for c in body["details"]["causes"]]


@pytest.fixture
def api() -> ApiServer:
    server = ApiServer(FakeBackend(ClusterState()))
    assert call(server, "POST", CRDS, gadget_crd()).status == 201
    return server


# -- CRD checks ------------------------------------------------------------------------------
def test_a_realistic_schema_compiles_cleanly() -> None:
    result = compile_schema(GADGET_SCHEMA, BASE)
    assert result.errors == []
    assert [path for path, _, _ in result.defaulted] == [
        f"{BASE}.properties[spec].properties[replicas]"
    ]
    assert result.root.properties["spec"].properties["port"].int_or_string


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "object", "properties": {"spec": {"properties": {}}}},
         f"{BASE}.properties[spec].type: Required value: must not be empty for specified object"
         " fields"),
        ({"type": "string"}, f'{BASE}.type: Invalid value: "string": must be object at the root'),
        ({"type": "object", "properties": {"a": {"type": "array"}}},
         f"{BASE}.properties[a].items: Required value: must be specified"),
        ({"type": "object", "properties": {"a": {"type": "array", "items": {}}}},
         f"{BASE}.properties[a].items.type: Required value: must not be empty for specified"
         " array items"),
        ({"type": "object", "properties": {"a": {"type": "thing"}}},
         f'{BASE}.properties[a].type: Unsupported value: "thing": supported values: "array",'
         ' "boolean", "integer", "number", "object", "string"'),
        ({"type": "object", "properties": {"a": {"type": "object", "properties": {
            "b": {"type": "string"}}, "additionalProperties": {"type": "string"}}}},
         f"{BASE}.properties[a].additionalProperties: Forbidden: additionalProperties and"
         " properties are mutual exclusive"),
        ({"type": "object", "x-kubernetes-preserve-unknown-fields": False},
         f"{BASE}.x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or"
         " undefined"),
        ({"type": "object", "properties": {"a": {"$ref": "#/definitions/a"}}},
         f"{BASE}.properties[a].$ref: Forbidden: $ref is not supported"),
        ({"type": "object", "properties": {"metadata": {"type": "object", "properties": {
            "labels": {"type": "object"}}}}},
         f"{BASE}.properties[metadata]: Forbidden: must not specify anything other than name"
         " and generateName, but metadata is implicitly specified"),
        ({"type": "object", "properties": {"a": {"type": "string", "anyOf": [
            {"type": "string"}]}}},
         f"{BASE}.properties[a].anyOf[0].type: Forbidden: must be empty to be structural"),
        ({"type": "object", "properties": {"a": {"type": "string", "pattern": "a(?=b)"}}},
         f'{BASE}.properties[a].pattern: Invalid value: "a(?=b)": must be a valid regular'
         " expression, but isn't: not supported by RE2"),
        ({"type": "object", "properties": {"a": {"type": "object",
                                                  "x-kubernetes-embedded-resource": True}}},
         f"{BASE}.properties[a].properties: Required value: must not be empty if"
         " x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"),
        ({"type": "object", "properties": {"a": {"type": "array", "x-kubernetes-list-type": "map",
                                                  "items": {"type": "object"}}}},
         f"{BASE}.properties[a].x-kubernetes-list-map-keys: Required value: must not be empty if"
         " x-kubernetes-list-type is map"),
    ],
)  # fmt: skip
def test_unusable_schemas_are_reported_as_the_api_server_does(
    schema: dict[str, Any], expected: str
) -> None:
    assert expected in [error.text() for error in compile_schema(schema, BASE).errors]


def test_defaults_must_be_pruned_and_valid() -> None:
    schema = {"type": "object", "properties": {
        "count": {"type": "integer", "default": "three"},
        "box": {"type": "object", "properties": {"a": {"type": "string"}},
                "default": {"a": "x", "b": 1}},
        "metadata": {"type": "object", "properties": {"name": {"type": "string",
                                                               "default": "n"}}},
    }}  # fmt: skip
    crd = gadget_crd(schema)
    texts = [error.text() for error in crd_errors(crd)]
    assert texts == [
        f'{BASE}.properties[count].default: Invalid value: "string":  in body must be of type'
        ' integer: "string"',
        f'{BASE}.properties[box].default: Invalid value: {{"a":"x","b":1}}: must not have'
        " unknown fields",
        f"{BASE}.properties[metadata].properties[name].default: Forbidden: must not be set in"
        " top-level metadata",
    ]


def test_schemas_nest_at_most_the_depth_limit() -> None:
    deep: dict[str, Any] = {"type": "string"}
    for _level in range(MAX_SCHEMA_DEPTH + 5):
        deep = {"type": "object", "properties": {"a": deep}}
    texts = [error.text() for error in compile_schema(deep, BASE).errors]
    assert len(texts) == 1 and "must not nest deeper than 64 levels" in texts[0]


def test_broken_crd_is_rejected_with_causes() -> None:
    server = ApiServer(FakeBackend(ClusterState()))
    broken = gadget_crd({"type": "object", "properties": {"spec": {"properties": {}}}})
    response = call(server, "POST", CRDS, broken)
    body = response.decoded()
    assert response.status == 422 and body["reason"] == "Invalid"
    assert causes(body) == [(
        "FieldValueRequired", f"{BASE}.properties[spec].type",
        "Required value: must not be empty for specified object fields",
    )]  # fmt: skip
    assert body["message"].startswith(
        'CustomResourceDefinition.apiextensions.k8s.io "gadgets.example.net" is invalid: '
    )
    assert call(server, "GET", GADGETS).status == 404
    missing = gadget_crd()
    missing["spec"]["versions"][0]["schema"] = {}
    assert call(server, "POST", CRDS, missing).status == 422
    preserving = gadget_crd()
    preserving["spec"]["preserveUnknownFields"] = True
    assert causes(call(server, "POST", CRDS, preserving).decoded()) == [
        ("FieldValueInvalid", "spec.preserveUnknownFields", "Invalid value: true: must be false")
    ]


def test_crd_update_rechecks_changed_schemas_only(api: ApiServer) -> None:
    path = f"{CRDS}/gadgets.example.net"
    crd = call(api, "GET", path).decoded()
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = {"type": "array"}
    assert call(api, "PUT", path, crd).status == 422
    crd = call(api, "GET", path).decoded()
    crd["metadata"]["labels"] = {"touched": "yes"}
    assert call(api, "PUT", path, crd).status == 200


# -- pruning and defaulting ------------------------------------------------------------------
def test_prune_drops_unknown_fields_and_keeps_resource_meta() -> None:
    root = compiled(GADGET_SCHEMA)
    obj = {"apiVersion": "example.net/v1", "kind": "Gadget", "metadata": {"name": "g"},
           "spec": {"size": "S", "bogus": 1, "labels": {"a": "b"},
                    "extra": {"free": [1], "known": {"a": "x", "b": "y"}},
                    "template": {"apiVersion": "v1", "kind": "Pod", "anything": {"x": 1},
                                 "metadata": {"name": "p", "unknown": 1}}},
           "status": {"phase": "Ok", "bogus": True}, "top": 1}  # fmt: skip
    prune(obj, root, is_resource=True)
    assert obj == {
        "apiVersion": "example.net/v1", "kind": "Gadget", "metadata": {"name": "g"},
        "spec": {"size": "S", "labels": {"a": "b"},
                 "extra": {"free": [1], "known": {"a": "x"}},
                 "template": {"apiVersion": "v1", "kind": "Pod", "anything": {"x": 1},
                              "metadata": {"name": "p"}}},
        "status": {"phase": "Ok"},
    }  # fmt: skip


def test_defaults_fill_missing_and_non_nullable_null_fields() -> None:
    root = compiled({"type": "object", "properties": {
        "a": {"type": "object", "default": {}, "properties": {
            "b": {"type": "string", "default": "bee"}}},
        "n": {"type": "string", "nullable": True, "default": "x"},
        "list": {"type": "array", "items": {"type": "object", "properties": {
            "c": {"type": "integer", "default": 3}}}},
        "map": {"type": "object", "additionalProperties": {"type": "string", "default": "d"}},
    }})  # fmt: skip
    obj: dict[str, Any] = {"n": None, "list": [{}, {"c": 1}], "map": {"k": None, "j": "v"}}
    apply_defaults(obj, root)
    assert obj == {"a": {"b": "bee"}, "n": None, "list": [{"c": 3}, {"c": 1}],
                   "map": {"k": "d", "j": "v"}}  # fmt: skip


def test_nulls_without_default_are_dropped_unless_nullable() -> None:
    root = compiled({"type": "object", "properties": {
        "a": {"type": "string"}, "b": {"type": "string", "nullable": True},
        "c": {"type": "string", "default": "x"}}})  # fmt: skip
    obj = {"a": None, "b": None, "c": None, "unknown": None}
    drop_null_fields(obj, root)
    assert obj == {"b": None, "c": None, "unknown": None}


def test_objects_nesting_beyond_the_limit_are_refused() -> None:
    anything = {"x-kubernetes-preserve-unknown-fields": True}
    root = compiled({"type": "object", "properties": {"a": {"type": "array", "items": anything}}})
    nested: list[Any] = []
    for _level in range(MAX_OBJECT_DEPTH + 5):
        nested = [nested]
    with pytest.raises(ApiStatusError) as refused:
        prune({"a": nested}, root, is_resource=True)
    assert refused.value.code == 400


# -- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("schema", "value", "expected"),
    [
        ({"type": "integer"}, "many", ("FieldValueTypeInvalid", "x",
         'Invalid value: "string": x in body must be of type integer: "string"')),
        ({"type": "integer"}, 2.0, None),
        ({"type": "string"}, None, ("FieldValueTypeInvalid", "x",
         'Invalid value: "null": x in body must be of type string: "null"')),
        ({"type": "string", "nullable": True}, None, None),
        ({"type": "string", "enum": ["S", "M"]}, "L", ("FieldValueNotSupported", "x",
         'Unsupported value: "L": supported values: "S", "M"')),
        ({"type": "integer", "minimum": 1}, 0, ("FieldValueInvalid", "x",
         "Invalid value: 0: x in body should be greater than or equal to 1")),
        ({"type": "number", "maximum": 1.5, "exclusiveMaximum": True}, 1.5, (
         "FieldValueInvalid", "x", "Invalid value: 1.5: x in body should be less than 1.5")),
        ({"type": "string", "maxLength": 2}, "abc", ("FieldValueTooLong", "x",
         "Too long: may not be more than 2 bytes")),
        ({"type": "string", "minLength": 2}, "a", ("FieldValueInvalid", "x",
         'Invalid value: "a": x in body should be at least 2 chars long')),
        ({"type": "string", "pattern": "^[a-z]+$"}, "A1", ("FieldValueInvalid", "x",
         "Invalid value: \"A1\": x in body should match '^[a-z]+$'")),
        ({"type": "string", "format": "date-time"}, "noon", ("FieldValueTypeInvalid", "x",
         'Invalid value: "noon": x in body must be of type date-time: "noon"')),
        ({"type": "string", "format": "date-time"}, "2024-05-01T10:00:00Z", None),
        ({"type": "integer", "format": "int32"}, 2**40, None),
        ({"type": "array", "items": {"type": "string"}, "minItems": 2}, ["a"], (
         "FieldValueInvalid", "x", "Invalid value: 1: x in body should have at least 2 items")),
        ({"type": "array", "items": {"type": "string"}, "maxItems": 1}, ["a", "b"], (
         "FieldValueTooMany", "x", "Too many: 2: must have at most 1 item")),
        ({"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
         ["a", "a"], ("FieldValueDuplicate", "x[1]", 'Duplicate value: "a"')),
        ({"x-kubernetes-int-or-string": True}, True, ("FieldValueTypeInvalid", "x",
         'Invalid value: "boolean": x in body must be of type integer,string: "boolean"')),
        ({"type": "object", "required": ["a"]}, {}, ("FieldValueRequired", "x.a",
         "Required value")),
        ({"type": "object", "additionalProperties": {"type": "integer"}}, {"k": "v"}, (
         "FieldValueTypeInvalid", "x.k",
         'Invalid value: "string": x.k in body must be of type integer: "string"')),
    ],
)  # fmt: skip
def test_validation_errors_read_like_kube_apiserver(
    schema: dict[str, Any], value: Any, expected: tuple[str, str, str] | None
) -> None:
    root = compiled({"type": "object", "properties": {"x": schema}})
    found = [(e.reason, e.field, e.body) for e in validate({"x": value}, root)]
    assert found == ([expected] if expected else [])


def test_re2_patterns_are_mapped_or_left_unenforced() -> None:
    root = compiled({"type": "object", "properties": {
        "a": {"type": "string", "pattern": "^[a-z]+\\z"},
        "b": {"type": "string", "pattern": "^\\p{L}+$"},
    }})  # fmt: skip
    assert validate({"a": "abc", "b": "1"}, root) == []
    assert [error.field for error in validate({"a": "ab1"}, root)] == ["a"]


def test_junctors() -> None:
    root = compiled({"type": "object", "properties": {"x": {
        "type": "object",
        "anyOf": [{"required": ["a"]}, {"required": ["b"]}],
        "not": {"required": ["c"]},
    }}})  # fmt: skip
    assert validate({"x": {"a": 1}}, root) == []
    texts = [e.text() for e in validate({"x": {"c": 1}}, root)]
    assert texts == [
        '<nil>: Invalid value: "": "x" must not validate the schema (not)',
        '<nil>: Invalid value: "": "x" must validate at least one schema (anyOf)',
        "x.a: Required value",
    ]
    one_of = compiled({"type": "object", "properties": {"x": {
        "type": "integer", "oneOf": [{"minimum": 0}, {"maximum": 10}]}}})  # fmt: skip
    assert [e.body for e in validate({"x": 5}, one_of)] == [
        'Invalid value: "": "x" must validate one and only one schema (oneOf). Found 2 valid'
        " alternatives"
    ]


def test_updates_ratchet_unchanged_invalid_values() -> None:
    root = compiled(GADGET_SCHEMA)
    old = {"spec": {"size": "XL", "replicas": 50, "ports": [{"name": "a", "number": "x"}]}}
    ports = [{"name": "b", "number": 1}, {"name": "a", "number": "x"}]
    moved: dict[str, Any] = {"spec": {"size": "XL", "replicas": 50, "ports": ports},
                             "status": {"ready": True}}  # fmt: skip
    assert validate(moved, root, old) == []
    assert len(validate(moved, root)) == 3
    changed = clone(moved)
    changed["spec"]["replicas"] = 60
    assert [e.field for e in validate(changed, root, old)] == ["spec.replicas"]


# -- properties ------------------------------------------------------------------------------
_names = st.sampled_from(["a", "b", "c", "spec", "items"])
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-5, 5) | st.text(max_size=3),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_names, children, max_size=3),
    max_leaves=20,
)
_schemas = st.recursive(
    st.sampled_from([{"type": t} for t in ("string", "integer", "boolean", "number")]),
    lambda children: st.one_of(
        st.builds(lambda items: {"type": "array", "items": items}, children),
        st.builds(lambda props, keep: {"type": "object", "properties": props,
                                       "x-kubernetes-preserve-unknown-fields": True}
                  if keep else {"type": "object", "properties": props},
                  st.dictionaries(_names, children, max_size=3), st.booleans()),
        st.builds(lambda value: {"type": "object", "additionalProperties": value}, children),
    ),
    max_leaves=12,
)  # fmt: skip


def _unknown_fields(value: Any, schema: SchemaNode) -> list[str]:
    """Fields of ``value`` at levels that do not preserve unknown fields and do not specify."""
    found: list[str] = []
    stack: list[tuple[Any, SchemaNode | None, str]] = [(value, schema, "")]
    while stack:
        current, node, path = stack.pop()
        if node is None:
            if isinstance(current, dict) and current:
                found.append(path)
            continue
        if isinstance(current, list):
            stack.extend((item, node.items, f"{path}[]") for item in current)
        elif isinstance(current, dict):
            for key, child in current.items():
                declared = node.properties.get(key)
                if declared is None and node.additional_present:
                    declared = node.additional
                elif declared is None and not node.preserve_unknown:
                    found.append(f"{path}.{key}")
                    continue
                if declared is not None:
                    stack.append((child, declared, f"{path}.{key}"))
    return found


@settings(max_examples=200, deadline=None)
@given(schema=_schemas, value=_json_values)
def test_pruning_is_idempotent_and_keeps_only_specified_fields(
    schema: dict[str, Any], value: Any
) -> None:
    root = compile_schema({"type": "object", "properties": {"x": schema}}, BASE).root
    document = {"x": value}
    prune(document, root)
    assert _unknown_fields(document, root) == []
    again = clone(document)
    prune(again, root)
    assert json_equal(again, document, [10_000])


@settings(max_examples=200, deadline=None)
@given(schema=_schemas, value=_json_values)
def test_strict_validation_reports_exactly_what_pruning_drops(
    schema: dict[str, Any], value: Any
) -> None:
    root = compile_schema({"type": "object", "properties": {"x": schema}}, BASE).root
    document = {"x": value}
    pruned = clone(document)
    prune(pruned, root, is_resource=True)
    unknown = unknown_fields(document, root)
    assert (unknown == []) == json_equal(pruned, document, [10_000])
    assert unknown_fields(pruned, root) == []


@settings(max_examples=200, deadline=None)
@given(value=_json_values)
def test_coercion_is_idempotent_and_validation_never_fails_to_answer(value: Any) -> None:
    compiled_schema = compile_schema(GADGET_SCHEMA, BASE)
    document = {"apiVersion": "example.net/v1", "kind": "Gadget", "spec": value,
                "status": value}  # fmt: skip
    coerce(document, compiled_schema)
    once = clone(document)
    coerce(document, compiled_schema)
    assert json_equal(document, once, [10_000])
    errors = validate(document, compiled_schema.root)
    assert all(error.field.startswith(("spec", "status", "<nil>")) for error in errors)
    assert validate(document, compiled_schema.root, clone(document)) == []


# -- through the resolver --------------------------------------------------------------------
def test_writes_are_pruned_defaulted_and_validated(api: ApiServer) -> None:
    created = call(api, "POST", GADGETS, gadget("g", size="S", bogus=1, port="http"))
    assert created.status == 201
    assert created.decoded()["spec"] == {"size": "S", "port": "http", "replicas": 1}
    rejected = call(api, "POST", GADGETS, gadget("bad", size="XL", replicas="many"))
    body = rejected.decoded()
    assert rejected.status == 422 and body["details"]["kind"] == "Gadget"
    assert body["message"] == (
        'Gadget.example.net "bad" is invalid: [spec.replicas: Invalid value: "string": '
        'spec.replicas in body must be of type integer: "string", spec.size: Unsupported '
        'value: "XL": supported values: "S", "M"]'
    )
    patch = {"spec": {"replicas": 11}}
    patched = call(api, "PATCH", f"{GADGETS}/g", patch, "application/merge-patch+json")
    assert causes(patched.decoded()) == [("FieldValueInvalid", "spec.replicas",
        "Invalid value: 11: spec.replicas in body should be less than or equal to 10")]  # fmt: skip
    missing = call(api, "POST", GADGETS, gadget("empty"))
    assert causes(missing.decoded()) == [("FieldValueRequired", "spec.size", "Required value")]
    assert call(api, "POST", f"{GADGETS}?dryRun=All", gadget("dry", size=1)).status == 422


STRICT_ERROR = 'Gadget in version "v1" cannot be handled as a Gadget: strict decoding error: '


def test_strict_field_validation_refuses_what_pruning_would_drop(api: ApiServer) -> None:
    """fieldValidation=Strict (kubectl's default): 400, as kube-apiserver's strict decoder
    words it, on create, update and patch; without it the fields are pruned."""
    strict = f"{GADGETS}?fieldValidation=Strict"
    typo = gadget("g", size="S", replcas=2, ports=[{"name": "a", "number": 1, "proto": "x"}])
    typo["metadata"]["colour"] = "red"
    refused = call(api, "POST", strict, typo)
    assert refused.status == 400 and refused.decoded()["reason"] == "BadRequest"
    assert refused.decoded()["message"] == STRICT_ERROR + (
        'unknown field "metadata.colour", unknown field "spec.ports[0].proto",'
        ' unknown field "spec.replcas"'
    )
    assert call(api, "POST", strict, gadget("g", size="S", labels={"any": "x"})).status == 201
    stored = call(api, "GET", f"{GADGETS}/g").decoded()
    stored["spec"]["extra"] = {"known": {"a": "1", "b": 2}, "kept": True}
    assert call(api, "PUT", f"{GADGETS}/g?fieldValidation=Strict", stored).status == 400
    patch = {"spec": {"bogus": 1}}
    patched = call(api, "PATCH", f"{GADGETS}/g?fieldValidation=Strict", patch,
                   "application/merge-patch+json")  # fmt: skip
    assert patched.decoded()["message"] == STRICT_ERROR + 'unknown field "spec.bogus"'
    ignored = call(api, "PATCH", f"{GADGETS}/g?fieldValidation=Ignore", patch,
                   "application/merge-patch+json")  # fmt: skip
    assert ignored.status == 200 and "bogus" not in ignored.decoded()["spec"]


def test_unknown_fields_are_warned_about_by_default_and_dropped(api: ApiServer) -> None:
    """Without fieldValidation (the API server's default is Warn) or with Warn, each dropped
    field comes back as a ``299`` Warning; Ignore drops them silently; other values are
    refused as the API server refuses them."""
    typo = gadget("g", size="S", replcas=2)
    typo["metadata"]["colour"] = "red"
    created = call(api, "POST", GADGETS, typo)
    assert created.status == 201 and "replcas" not in created.decoded()["spec"]
    assert created.headers["Warning"] == (
        '299 - "unknown field \\"metadata.colour\\"", 299 - "unknown field \\"spec.replcas\\""'
    )
    patch = {"spec": {"bogus": 1}}
    warned = call(api, "PATCH", f"{GADGETS}/g?fieldValidation=Warn", patch,
                  "application/merge-patch+json")  # fmt: skip
    assert warned.headers["Warning"] == '299 - "unknown field \\"spec.bogus\\""'
    ignored = call(api, "PATCH", f"{GADGETS}/g?fieldValidation=Ignore", patch,
                   "application/merge-patch+json")  # fmt: skip
    assert ignored.status == 200 and "Warning" not in ignored.headers
    assert "Warning" not in call(api, "GET", f"{GADGETS}/g").headers
    wrong = call(api, "PUT", f"{GADGETS}/g?fieldValidation=strict", ignored.decoded())
    assert wrong.status == 422 and wrong.decoded()["message"] == (
        'UpdateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value:'
        ' "strict": supported values: "", "Ignore", "Strict", "Warn"'
    )


def test_a_built_in_kinds_unknown_metadata_is_checked_and_dropped(api: ApiServer) -> None:
    """No schema for built-in kinds here, but decoding into ObjectMeta applies to all."""
    configmaps = "/api/v1/namespaces/default/configmaps"
    odd = configmap("c", "default")
    odd["metadata"]["colour"] = "red"
    refused = call(api, "POST", f"{configmaps}?fieldValidation=Strict", odd)
    assert refused.status == 400 and refused.decoded()["message"] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error:'
        ' unknown field "metadata.colour"'
    )
    created = call(api, "POST", configmaps, odd)
    assert created.headers["Warning"] == '299 - "unknown field \\"metadata.colour\\""'
    assert "colour" not in call(api, "GET", f"{configmaps}/c").decoded()["metadata"]
    odd["metadata"]["name"] = "quiet"
    quiet = call(api, "POST", f"{configmaps}?fieldValidation=Ignore", odd)
    assert "Warning" not in quiet.headers and "colour" not in quiet.decoded()["metadata"]


def test_warnings_are_ascii_and_bounded_as_the_api_server_bounds_them(api: ApiServer) -> None:
    """A field name can hold any character, and a body thousands of unknown fields: the
    header stays ASCII, each warning at most 256 characters, all of them at most 4 KB."""
    odd = gadget("odd", size="S", **{"größe": 1, 'q"uote': 2, "x" * 300: 3})
    header = call(api, "POST", GADGETS, odd).headers["Warning"]
    assert header.isascii() and '"unknown field \\"spec.gr\\\\xf6\\\\xdfe\\""' in header
    assert '\\"spec.q\\\\\\"uote\\"' in header and f'"unknown field \\"spec.{"x" * 236}"' in header
    many = gadget("many", size="S", **{f"field{index:03}{'y' * 60}": 1 for index in range(99)})
    header = call(api, "POST", GADGETS, many).headers["Warning"]
    assert len(header) <= 4096 and 30 < header.count("299 - ") < 99
    assert header.endswith('y\\""') and "field000" in header


def test_admission_never_changes_what_the_new_object_shares_with_the_stored_one(
    api: ApiServer,
) -> None:
    """An update carries the stored status over by reference; pruning must not reach it."""
    info = api.state.registry.by_resource("example.net", "gadgets")
    assert info is not None
    stored_status = {"phase": "Up", "legacy": 1}
    old = {**gadget("g", size="S"), "status": stored_status}
    new = {**gadget("g", size="M"), "status": stored_status}
    schema.admit(api.state, Target(info, "default", "g", "", "v1"), new, old)
    assert stored_status == {"phase": "Up", "legacy": 1}
    assert new["status"] == {"phase": "Up"} and new["spec"] == {"size": "M", "replicas": 1}


def test_status_subresource_is_pruned_and_validated(api: ApiServer) -> None:
    call(api, "POST", GADGETS, gadget("g", size="S"))
    stored = call(api, "GET", f"{GADGETS}/g").decoded()
    stored["status"] = {"phase": "Ready", "bogus": 1}
    updated = call(api, "PUT", f"{GADGETS}/g/status", stored).decoded()
    assert updated["status"] == {"phase": "Ready"} and updated["metadata"]["generation"] == 1
    wrong = {"status": {"ready": "yes"}}
    response = call(api, "PATCH", f"{GADGETS}/g/status", wrong, "application/merge-patch+json")
    assert response.status == 422
    assert causes(response.decoded())[0][:2] == ("FieldValueTypeInvalid", "status.ready")


def test_each_version_uses_its_own_schema() -> None:
    server = ApiServer(FakeBackend(ClusterState()))
    crd = gadget_crd()
    v2_schema = clone(GADGET_SCHEMA)
    v2_schema["properties"]["spec"]["properties"]["color"] = {"type": "string"}
    crd["spec"]["versions"].append({"name": "v2", "served": True, "storage": False,
                                    "schema": {"openAPIV3Schema": v2_schema}})  # fmt: skip
    assert call(server, "POST", CRDS, crd).status == 201
    v1 = call(server, "POST", GADGETS, gadget("one", size="S", color="red")).decoded()
    assert "color" not in v1["spec"]
    in_v2 = gadget("two", size="S", color="red")
    in_v2["apiVersion"] = "example.net/v2"
    v2 = call(server, "POST", GADGETS.replace("/v1/", "/v2/"), in_v2).decoded()
    assert v2["spec"]["color"] == "red"


def test_new_defaults_show_on_stored_objects_after_a_crd_update(api: ApiServer) -> None:
    created = call(api, "POST", GADGETS, gadget("g", size="S")).decoded()
    path = f"{CRDS}/gadgets.example.net"
    crd = call(api, "GET", path).decoded()
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["mode"] = {"type": "string", "default": "auto"}
    assert call(api, "PUT", path, crd).status == 200
    read = call(api, "GET", f"{GADGETS}/g").decoded()
    assert read["spec"]["mode"] == "auto"
    assert read["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_versions_without_schema_store_objects_as_sent() -> None:
    server = ApiServer(FakeBackend(ClusterState()))
    crd = gadget_crd()
    del crd["spec"]["versions"][0]["schema"]
    assert call(server, "POST", CRDS, crd).status == 201
    anything = gadget("g", whatever={"x": [1]})
    assert call(server, "POST", GADGETS, anything).decoded()["spec"] == {"whatever": {"x": [1]}}


# -- the kubernetes client and kubectl -------------------------------------------------------


def test_custom_objects_api(api_client: Any) -> None:
    client.ApiextensionsV1Api(api_client).create_custom_resource_definition(gadget_crd())
    custom = client.CustomObjectsApi(api_client)
    args = ("example.net", "v1", "default", "gadgets")
    made = custom.create_namespaced_custom_object(*args, gadget("g", size="M", junk=True))
    assert made["spec"] == {"size": "M", "replicas": 1}
    with pytest.raises(ApiException) as refused:
        custom.create_namespaced_custom_object(*args, gadget("bad", size="M", replicas=-1))
    body = json.loads(str(refused.value.body))
    assert refused.value.status == 422 and causes(body) == [("FieldValueInvalid",
        "spec.replicas", "Invalid value: -1: spec.replicas in body should be greater than or"
        " equal to 0")]  # fmt: skip
    status = {"status": {"phase": "Up", "junk": 1}}
    custom.patch_namespaced_custom_object_status(*args, "g", status)
    assert custom.get_namespaced_custom_object(*args, "g")["status"] == {"phase": "Up"}
    with pytest.raises(ApiException) as wrong:
        custom.patch_namespaced_custom_object_status(*args, "g", {"status": {"phase": 3}})
    assert wrong.value.status == 422


@needs_kubectl
def test_kubectl_sees_defaults_and_validation_errors(kubeconfig: str, tmp_path: Path) -> None:
    manifest = tmp_path / "crd.yaml"
    manifest.write_text(yaml.safe_dump(gadget_crd()))
    kubectl(kubeconfig, "apply", "-f", str(manifest))
    manifest.write_text(yaml.safe_dump(gadget("g", size="S")))
    kubectl(kubeconfig, "apply", "-f", str(manifest))
    shown = json.loads(kubectl(kubeconfig, "get", "gadget", "g", "-o", "json").stdout)
    assert shown["spec"] == {"size": "S", "replicas": 1}
    manifest.write_text(yaml.safe_dump(gadget("bad", size="S", replicas="many")))
    result = kubectl(kubeconfig, "apply", "-f", str(manifest), check=False)
    assert result.returncode != 0
    assert (
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type'
        ' integer: "string"' in result.stderr
    )
    manifest.write_text(yaml.safe_dump(gadget("typo", size="S", replcas=2)))
    result = kubectl(kubeconfig, "create", "-f", str(manifest), check=False)
    assert result.returncode != 0
    assert STRICT_ERROR + 'unknown field "spec.replcas"' in result.stderr
    kubectl(kubeconfig, "create", "--validate=false", "-f", str(manifest))
    manifest.write_text(yaml.safe_dump(gadget("typo2", size="S", replcas=2)))
    warned = kubectl(kubeconfig, "create", "--validate=warn", "-f", str(manifest))
    assert 'Warning: unknown field "spec.replcas"' in warned.stderr
    broken = gadget_crd({"type": "object", "properties": {"spec": {"properties": {}}}})
    broken["spec"]["names"] = {"plural": "others", "singular": "other", "kind": "Other"}
    broken["metadata"]["name"] = "others.example.net"
    manifest.write_text(yaml.safe_dump(broken))
    result = kubectl(kubeconfig, "create", "-f", str(manifest), check=False)
    assert "must not be empty for specified object fields" in result.stderr


# -- replay ----------------------------------------------------------------------------------
def _recorded(seq: int, verb: str, kind: str, resource: str, body: dict[str, Any]) -> Operation:
    return Operation(
        "s1", seq, 1_700_000_000_000_000_000 + seq, verb,
        api_version=str(body.get("apiVersion") or "apiextensions.k8s.io/v1"), kind=kind,
        resource=resource, namespace=str(body.get("metadata", {}).get("namespace", "")),
        name=str(body.get("metadata", {}).get("name", "")),
        response_body=json.dumps(body).encode(), status_code=200,
    )  # fmt: skip


def test_replay_serves_recorded_objects_as_recorded(tmp_path: Path) -> None:
    """A recorded object the schema would refuse is served as is, a status update that leaves
    it alone passes (ratcheting), and a new invalid value is refused."""
    crd = gadget_crd()
    crd["metadata"].update(uid="uid-crd", resourceVersion="5")
    crd_list = {"apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinitionList", "metadata": {}, "items": [crd]}  # fmt: skip
    recorded = gadget("g", size="XXL", legacy=True)
    recorded["metadata"].update(namespace="default", uid="uid-g", resourceVersion="7")
    path = str(tmp_path / "rec.db")
    with RecordingWriter(path) as writer:
        writer.begin_session(SessionInfo("s1", operator="test"))
        writer.append([
            _recorded(1, "list", "CustomResourceDefinition", "customresourcedefinitions",
                      crd_list),
            _recorded(2, "get", "Gadget", "gadgets", recorded),
        ])  # fmt: skip
        writer.end_session("s1")
    recording = open_recording(path)
    try:
        with start_server(ReplayBackend(recording, "s1", step=2)) as running:
            _check_replayed(running, recorded)
    finally:
        recording.close()


def _check_replayed(running: RunningServer, recorded: dict[str, Any]) -> None:
    served = call(running.api, "GET", f"{GADGETS}/g").decoded()
    assert served["spec"] == recorded["spec"]
    served["status"] = {"phase": "Seen"}
    updated = call(running.api, "PUT", f"{GADGETS}/g/status", served)
    assert updated.status == 200 and updated.decoded()["spec"]["size"] == "XXL"
    changed = call(running.api, "PATCH", f"{GADGETS}/g", {"spec": {"replicas": "x"}},
                   "application/merge-patch+json")  # fmt: skip
    assert changed.status == 422
    assert [c[1] for c in causes(changed.decoded())] == ["spec.replicas"]
