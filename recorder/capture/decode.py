"""Turning captured bytes into recording fields: object identity, errors, watch events.

Runs in the writer process: JSON is parsed here, never on the operator's thread.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from recorder.capture.redact import Redactor
from recorder.capture.routes import Route, kind_for_resource

_MAX_MESSAGE = 4096
# The API server's own line shape; anything else is re-encoded from the parsed event.
_EVENT_HEAD = re.compile(rb'\{"type": ?"[A-Z]+", ?"object": ?')


@dataclass(slots=True)
class ObjectFields:
    """What the recording needs from one object or list body."""

    api_version: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""
    uid: str = ""
    resource_version: str = ""
    generation: int | None = None


def parse_json(data: bytes | None) -> Any:
    if not data:
        return None
    try:  # UTF-8, as the API server sends: skips json.loads' encoding sniffing in Python
        return json.loads(data.decode())
    except ValueError:  # also UnicodeDecodeError; a BOM or UTF-16 gets the sniffing below
        pass
    try:
        return json.loads(data)
    except ValueError:
        return None


def object_fields(body: Any, route: Route, learned: dict[str, str]) -> ObjectFields:
    """Identity fields from a response object; the URL fills in what the body lacks."""
    fields = ObjectFields(api_version=route.api_version, namespace=route.namespace, name=route.name)
    fields.kind = kind_for_resource(route.resource, learned)
    if not isinstance(body, dict):
        return fields
    kind = body.get("kind")
    if isinstance(kind, str) and kind and kind != "Status":
        is_list = route.verb in {"list", "deletecollection"}
        fields.kind = kind.removesuffix("List") if is_list else kind
        if not route.subresource:
            learned.setdefault(route.resource, fields.kind)
        fields.api_version = str(body.get("apiVersion") or route.api_version)
    metadata = body.get("metadata")
    if kind == "Status" or not isinstance(metadata, dict):
        return fields
    fields.resource_version = str(metadata.get("resourceVersion") or "")
    if route.verb in {"list", "deletecollection"}:
        return fields
    fields.name = str(metadata.get("name") or fields.name)
    fields.namespace = str(metadata.get("namespace") or fields.namespace)
    fields.uid = str(metadata.get("uid") or "")
    generation = metadata.get("generation")
    fields.generation = generation if isinstance(generation, int) else None
    return fields


@dataclass(slots=True)
class ErrorFields:
    code: int
    reason: str
    message: str


def error_fields(status: int, http_reason: str, body: Any, raw: bytes | None) -> ErrorFields:
    """The decoded ``Status`` of a failed call (code, reason such as NotFound, message)."""
    if isinstance(body, dict) and body.get("kind") == "Status":
        code = body.get("code")
        return ErrorFields(
            code if isinstance(code, int) and code else status,
            str(body.get("reason") or http_reason),
            str(body.get("message") or "")[:_MAX_MESSAGE],
        )
    text = (raw or b"")[:_MAX_MESSAGE].decode("utf-8", "replace")
    return ErrorFields(status, http_reason, text)


@dataclass(slots=True)
class WatchEvent:
    event_type: str
    obj: Any
    body: bytes


def watch_event(line: bytes, route: Route, redactor: Redactor) -> WatchEvent | None:
    """One watch line: its type, parsed object, and the object's JSON as the body."""
    event = parse_json(line)
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return None
    obj = event.get("object")
    if redactor.redact_object(obj, route.resource, route.subresource):
        return WatchEvent(event["type"], obj, json.dumps(obj).encode())
    if len(event) != 2:  # only {"type", "object"} lines can be sliced safely
        return WatchEvent(event["type"], obj, json.dumps(obj).encode())
    return WatchEvent(event["type"], obj, _object_text(line, obj))


def _object_text(line: bytes, obj: Any) -> bytes:
    """The object's own bytes when the line has the API server's shape, else re-encoded."""
    stripped = line.strip()
    head = _EVENT_HEAD.match(stripped)
    if head is not None and stripped.endswith(b"}"):
        return stripped[head.end() : -1].rstrip()
    return json.dumps(obj).encode()
