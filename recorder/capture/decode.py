"""Turning captured bytes into recording fields: object identity, errors, watch events.

Runs in the writer process: JSON is parsed here, never on the operator's thread.
"""

from __future__ import annotations

import json
import json.scanner
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from recorder.capture.redact import Redactor
from recorder.capture.routes import Route, kind_for_resource

_MAX_MESSAGE = 4096
# The API server's own line shape; anything else is re-encoded from the parsed event.
_EVENT_HEAD = re.compile(rb'\{"type": ?"[A-Z]+", ?"object": ?')
# A line whose object can be stored as it arrived (ERROR events are parsed whole).
_PLAIN_EVENT = re.compile(rb'\{"type": ?"(ADDED|MODIFIED|DELETED|BOOKMARK)", ?"object": ?')
# The only keys of an object the recording reads (``object_fields``).
_IDENTITY_KEYS = frozenset({"kind", "apiVersion", "metadata"})
_MAX_KEYS = 256
_WHITESPACE = " \t\n\r"
_SPACES = re.compile(r"[ \t\n\r]*")
# The API server's compact objects: kind and apiVersion first (typed objects) or in key
# order (custom objects), then metadata; strings without escapes. Others are walked.
_TYPED_HEAD = re.compile(r'\{"kind":"([^"\\]*)","apiVersion":"([^"\\]*)","metadata":')
_SORTED_HEAD = re.compile(r'\{"apiVersion":"([^"\\]*)","kind":"([^"\\]*)","metadata":')
# ObjectMeta's keys, in the order Go writes them (the mock API server's pruning keeps these).
OBJECT_META_KEYS = (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
)  # fmt: skip
# The recording reads name, namespace, uid, resourceVersion and generation
# (``object_fields``): in Go's order, none comes after ``generation``.
_GO_METADATA_ORDER = {key: position for position, key in enumerate(OBJECT_META_KEYS)}
_FIELDS_READ = ("name", "namespace", "uid", "resourceVersion", "generation")
_LAST_FIELD_READ = max(_GO_METADATA_ORDER[key] for key in _FIELDS_READ)
_UNORDERED = -2  # keys out of Go's order (or unknown): the metadata is read whole
_WALK_METADATA_FROM = 2048  # characters of object left; below, a key walk costs more
# The C scanner behind json.loads, called at one position: (value, end) of one JSON value.
_scan_value: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder()  # type: ignore[arg-type]  # typeshed names the wrong parameter type
)


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
    except RecursionError:  # nested past the parser's depth: kept as bytes, unparsed
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def _skip_spaces(text: str, index: int) -> int:
    if text[index] in _WHITESPACE:
        return _SPACES.match(text, index).end()  # type: ignore[union-attr]  # always matches
    return index


def _identity(text: str) -> dict[str, Any] | None:
    """``kind``, ``apiVersion`` and ``metadata`` of a JSON object's text, parsed alone."""
    typed = _TYPED_HEAD.match(text)
    if typed is not None:
        kind, api_version = typed.groups()
    else:
        typed = _SORTED_HEAD.match(text)
        if typed is None:
            return _walked_identity(text)
        api_version, kind = typed.groups()
    try:
        metadata = _metadata(text, typed.end())
    except (StopIteration, ValueError, IndexError, RecursionError):
        return None
    return {"kind": kind, "apiVersion": api_version, "metadata": metadata}


def _key_at(text: str, index: int) -> tuple[str | None, int]:
    """The object key at ``index`` and where its value starts; None at the object's end."""
    if text[index] == "}":
        return None, index
    key, index = _scan_value(text, index)
    index = _skip_spaces(text, index)
    if type(key) is not str or text[index] != ":":
        raise ValueError("not an object's key")
    return key, _skip_spaces(text, index + 1)


def _next_key(text: str, index: int) -> int:
    """After the value that ends at ``index``: where the next key starts, or the end."""
    index = _skip_spaces(text, index)
    if text[index] == ",":
        return _skip_spaces(text, index + 1)
    if text[index] != "}":
        raise ValueError("not an object's member")
    return index


def _none_later(text: str, index: int, found: dict[str, Any]) -> bool:
    """Whether no field the recording reads and has not found yet is named anywhere after
    ``index`` (a quoted name anywhere counts, so that a key out of order is never missed)."""
    return all(text.find(f'"{key}"', index) < 0 for key in _FIELDS_READ if key not in found)


def _metadata(text: str, index: int) -> Any:
    """The metadata object at ``index``, its keys read in order. When they come in Go's
    ObjectMeta order (as the API server writes typed objects), the read stops at the
    first key past those the recording reads, so that ``labels``, ``annotations`` and
    ``managedFields`` are not parsed, unless a field it reads is named later on; in any
    other order it is read whole. ValueError (or IndexError) where it is not JSON."""
    if text[index] != "{" or len(text) - index < _WALK_METADATA_FROM:
        return _scan_value(text, index)[0]  # small: the C scanner reads it all sooner
    found: dict[str, Any] = {}
    last = -1  # the Go position of the last key, while they come in Go's order
    index = _skip_spaces(text, index + 1)
    for _ in range(_MAX_KEYS):
        key, index = _key_at(text, index)
        if key is None:
            return found
        if last != _UNORDERED:
            position = _GO_METADATA_ORDER.get(key, _UNORDERED)
            last = position if last < position else _UNORDERED
        if last > _LAST_FIELD_READ and "name" in found and _none_later(text, index, found):
            return found
        value, index = _scan_value(text, index)
        found.setdefault(key, value)  # the first of a repeated key, as the walk keeps
        index = _next_key(text, index)
    raise ValueError("metadata with too many keys")


def _walked_identity(text: str) -> dict[str, Any] | None:
    """``kind``, ``apiVersion`` and ``metadata`` of a JSON object's text, parsed alone.

    The object's keys are read in order until those three are found (the API server
    writes them first), so ``spec`` and ``status`` are neither parsed nor checked.
    None when the text is not an object of that shape: the caller then parses it whole.
    """
    found: dict[str, Any] = {}
    try:
        if text[0] != "{":
            return None
        index = _skip_spaces(text, 1)
        for _ in range(_MAX_KEYS):
            key, index = _key_at(text, index)
            if key is None:
                return found
            value, index = _scan_value(text, index)
            if key in _IDENTITY_KEYS:  # the first of a repeated key (API servers never repeat)
                found[key] = value
                if len(found) == len(_IDENTITY_KEYS):
                    return found
            index = _next_key(text, index)
    except (StopIteration, ValueError, IndexError, RecursionError):  # parse it whole
        return None
    return None


def may_hold_a_secret(data: bytes) -> bool:
    """Whether any JSON string in ``data`` could read ``Secret`` (literally or escaped)."""
    return b"Secret" in data or (b"\\" in data and b"\\u" in data)


def identity_fields(data: bytes) -> dict[str, Any] | None:
    """A body's kind, apiVersion and metadata without parsing the rest; None: parse it all.

    Only for bodies that need no redaction: the caller has checked the route, and that
    no ``Secret`` can appear in them (``may_hold_a_secret``).
    """
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return None
    return _identity(text.strip())


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
    """A watch event; ``obj`` may hold only the object's kind, apiVersion and metadata."""

    event_type: str
    obj: Any
    body: bytes


def plain_watch_event(line: bytes) -> WatchEvent | None:
    """A watch line of a resource that needs no redaction, its object kept as it arrived.

    Only the object's identity is parsed (``WatchEvent.obj`` holds just that), not the
    whole event: this runs once per event in the writer process, the recorder's busiest
    path during a watch. None when the object could be a Secret or the line has another
    shape (the caller then parses it whole).
    """
    head = _PLAIN_EVENT.match(line)
    if head is None or line[-1:] != b"}":
        return None
    body = line[head.end() : -1].rstrip()
    if may_hold_a_secret(body):
        return None
    identity = identity_fields(body)
    if identity is None:
        return None
    return WatchEvent(head[1].decode(), identity, body)


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
