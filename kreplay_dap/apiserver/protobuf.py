"""Decoding of the Kubernetes protobuf encoding for the few kinds kubectl creates imperatively.

Typed clients (``kubectl create namespace|configmap|secret|serviceaccount``) send
``application/vnd.kubernetes.protobuf``: the bytes ``k8s\\0`` then a ``runtime.Unknown``
message whose ``raw`` field is the object. This decoder knows the field numbers of those
kinds (from the Kubernetes ``generated.proto`` files) and turns them into the JSON the rest of
the server works with. Other kinds get 415, as before. Iterative and bounded.
"""

from __future__ import annotations

import base64
from typing import Any

from kreplay_dap.apiserver.status import ApiStatusError, bad_request

MAGIC = b"k8s\x00"
MAX_FIELDS = 100_000
MAX_MESSAGES = 100_000

# message -> field number -> (JSON name, type); a type is a scalar name or another message.
# A leading "*" marks a repeated field.
SCHEMAS: dict[str, dict[int, tuple[str, str]]] = {
    "Unknown": {1: ("typeMeta", "TypeMeta"), 2: ("raw", "rawbytes"),
                3: ("contentEncoding", "string"), 4: ("contentType", "string")},
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "ObjectMeta": {1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
                   5: ("uid", "string"), 6: ("resourceVersion", "string"), 7: ("generation", "int"),
                   11: ("labels", "*StringEntry"), 12: ("annotations", "*StringEntry"),
                   13: ("ownerReferences", "*OwnerReference"), 14: ("finalizers", "*string")},
    "OwnerReference": {1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"),
                       5: ("apiVersion", "string"), 6: ("controller", "bool"),
                       7: ("blockOwnerDeletion", "bool")},
    "StringEntry": {1: ("key", "string"), 2: ("value", "string")},
    "BytesEntry": {1: ("key", "string"), 2: ("value", "bytes")},
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "*string")},
    "ConfigMap": {1: ("metadata", "ObjectMeta"), 2: ("data", "*StringEntry"),
                  3: ("binaryData", "*BytesEntry"), 4: ("immutable", "bool")},
    "Secret": {1: ("metadata", "ObjectMeta"), 2: ("data", "*BytesEntry"), 3: ("type", "string"),
               4: ("stringData", "*StringEntry"), 5: ("immutable", "bool")},
    "ServiceAccount": {1: ("metadata", "ObjectMeta"),
                       3: ("imagePullSecrets", "*LocalObjectReference"),
                       4: ("automountServiceAccountToken", "bool")},
    "LocalObjectReference": {1: ("name", "string")},
}  # fmt: skip
SUPPORTED_KINDS = ("Namespace", "ConfigMap", "Secret", "ServiceAccount")
MAP_FIELDS = frozenset({"labels", "annotations", "data", "binaryData", "stringData"})


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 70, 7):
        if position >= len(data):
            raise bad_request("truncated protobuf varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
    raise bad_request("protobuf varint too long")


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message; length-delimited values are bytes."""
    fields: list[tuple[int, int, Any]] = []
    position = 0
    while position < len(data):
        if len(fields) >= MAX_FIELDS:
            raise bad_request("protobuf message has too many fields")
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, position = _varint(data, position)
        elif wire == 2:
            size, position = _varint(data, position)
            if position + size > len(data):
                raise bad_request("truncated protobuf field")
            value, position = data[position : position + size], position + size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value, position = data[position : position + width], position + width
        else:
            raise bad_request(f"unsupported protobuf wire type {wire}")
        fields.append((number, wire, value))
    return fields


def _scalar(kind: str, value: Any) -> Any:
    if kind == "string":
        return bytes(value).decode("utf-8")
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode("ascii")
    if kind == "rawbytes":
        return bytes(value)
    if kind == "bool":
        return bool(value)
    return int(value)


def decode_message(data: bytes, message: str) -> dict[str, Any]:
    """Decode ``data`` as ``message`` into JSON-shaped data (maps become objects)."""
    root: dict[str, Any] = {}
    stack: list[tuple[bytes, str, dict[str, Any]]] = [(data, message, root)]
    for _message in range(MAX_MESSAGES):
        if not stack:
            return root
        payload, name, target = stack.pop()
        schema = SCHEMAS[name]
        for number, _wire, raw in _fields(payload):
            if number not in schema:
                continue
            field, declared = schema[number]
            kind = declared.lstrip("*")
            decoded: Any
            if kind in SCHEMAS:
                decoded = {}
                stack.append((bytes(raw), kind, decoded))
            else:
                decoded = _scalar(kind, raw)
            if declared.startswith("*"):
                target.setdefault(field, []).append(decoded)
            else:
                target[field] = decoded
    raise bad_request(f"protobuf body nests more than {MAX_MESSAGES} messages")


def _maps_to_objects(obj: dict[str, Any]) -> None:
    """Turn repeated map entries ({key, value} lists) into JSON objects, at any depth."""
    stack = [obj]
    for _node in range(MAX_MESSAGES):
        if not stack:
            return
        current = stack.pop()
        for field, value in list(current.items()):
            if field in MAP_FIELDS and isinstance(value, list):
                current[field] = {e.get("key", ""): e.get("value", "") for e in value}
            elif isinstance(value, dict):
                stack.append(value)
            elif isinstance(value, list):
                stack.extend(v for v in value if isinstance(v, dict))
    raise bad_request(f"protobuf body has more than {MAX_MESSAGES} nested objects")


def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object of one of ``SUPPORTED_KINDS``."""
    if not body.startswith(MAGIC):
        raise bad_request("protobuf body does not start with the k8s magic bytes")
    envelope = decode_message(body[len(MAGIC) :], "Unknown")
    type_meta = envelope.get("typeMeta") or {}
    kind = type_meta.get("kind", "")
    if kind not in SUPPORTED_KINDS:
        raise ApiStatusError(
            415,
            f"the kreplay API server decodes protobuf only for {', '.join(SUPPORTED_KINDS)}"
            f" (got {kind or 'no kind'}); send application/json",
        )
    obj = decode_message(envelope.get("raw", b""), kind)
    _maps_to_objects(obj)
    obj["apiVersion"], obj["kind"] = type_meta.get("apiVersion", "v1"), kind
    return obj
