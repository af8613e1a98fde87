"""Redaction of secret values in parsed JSON bodies, before anything reaches the file.

Secret values become a keyed digest marker, so "did this secret change?" still has an
answer while the plaintext never hits the disk. Runs on the writer side.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

from recorder.errors import InvalidInputError

_SECRET_FIELDS = ("data", "stringData")
# ``kubectl apply`` keeps a copy of the applied object, secret values included, here.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_LAST_APPLIED_PATH = "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"
_MAX_PATH_DEPTH = 16
_MAX_VISITS = 100_000
# Built-in places where the API returns credentials: (resource, subresource) -> paths.
_TOKEN_PATHS: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("tokenreviews", ""): (("spec", "token"),),
    ("serviceaccounts", "token"): (("status", "token"),),
}


def parse_paths(paths: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """Validate user paths such as ``spec.password`` or ``data.*``."""
    parsed = []
    for path in list(paths)[:256]:
        if not isinstance(path, str) or not path or path.startswith(".") or path.endswith("."):
            raise InvalidInputError(f"invalid redaction path {path!r}: use e.g. spec.password")
        parts = tuple(path.split("."))
        if len(parts) > _MAX_PATH_DEPTH or "" in parts:
            raise InvalidInputError(f"invalid redaction path {path!r}")
        parsed.append(parts)
    return tuple(parsed)


class Redactor:
    """Replaces secret values with ``<redacted hmac-sha256:…>`` markers, in place."""

    def __init__(self, key: bytes, extra_paths: tuple[tuple[str, ...], ...] = ()) -> None:
        self._key = key
        self._extra = extra_paths

    def marker(self, value: Any) -> str:
        if isinstance(value, str) and value.startswith("<redacted "):
            return value  # two rules matched one value: keep the first digest
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        mac = hmac.new(self._key, text.encode("utf-8", "replace"), hashlib.sha256)
        return f"<redacted hmac-sha256:{mac.hexdigest()[:16]}>"

    def may_redact(self, resource: str, subresource: str = "") -> bool:
        """Whether bodies of this resource can hold values to redact, whatever their kind.

        False means only an object whose ``kind`` is ``Secret`` needs redacting.
        """
        return bool(resource == "secrets" or self._extra or (resource, subresource) in _TOKEN_PATHS)

    def redact_object(self, obj: Any, resource: str, subresource: str = "") -> bool:
        """Redact one object (not a list); True when something was replaced."""
        if not isinstance(obj, dict):
            return False
        changed = self._fields(obj, resource, subresource)
        return self._last_applied(obj, resource, subresource) or changed

    def _fields(self, obj: dict[str, Any], resource: str, subresource: str) -> bool:
        changed = False
        if _is_secret(obj, resource):
            changed = self._secret_values(obj)
        for path in _TOKEN_PATHS.get((resource, subresource), ()):
            changed = self._path(obj, path) or changed
        for path in self._extra:
            changed = self._path(obj, path) or changed
        return changed

    def _last_applied(self, obj: dict[str, Any], resource: str, subresource: str) -> bool:
        """The applied copy in the annotation gets the same redaction as the object."""
        metadata = obj.get("metadata")
        annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
        if not isinstance(annotations, dict) or LAST_APPLIED not in annotations:
            return False
        text = annotations[LAST_APPLIED]
        secret = _is_secret(obj, resource)
        redacted = self.applied_copy(text, "secrets" if secret else resource, subresource)
        annotations[LAST_APPLIED] = redacted
        return redacted is not text

    def applied_copy(self, text: Any, resource: str, subresource: str = "") -> Any:
        """A last-applied annotation's value, its object redacted (unreadable: all of it)."""
        try:
            applied = json.loads(text) if isinstance(text, str) else None
        except (ValueError, RecursionError):
            applied = None
        if not isinstance(applied, dict):
            return self.marker(text) if resource == "secrets" or self._extra else text
        if not self._fields(applied, resource, subresource):
            return text
        return json.dumps(applied, separators=(",", ":"))

    def redact_body(self, body: Any, resource: str, subresource: str = "") -> bool:
        """Redact a whole body: an object, a list's items, or a JSON patch to a Secret."""
        if isinstance(body, list):
            return self._json_patch(body) if resource == "secrets" else False
        if not isinstance(body, dict):
            return False
        items = body.get("items")
        if isinstance(items, list) and str(body.get("kind", "")).endswith("List"):
            changed = False
            for item in items[:_MAX_VISITS]:
                changed = self.redact_object(item, resource, subresource) or changed
            return changed
        return self.redact_object(body, resource, subresource)

    def _secret_values(self, obj: dict[str, Any]) -> bool:
        changed = False
        for field in _SECRET_FIELDS:
            values = obj.get(field)
            if isinstance(values, dict):
                for key in list(values)[:_MAX_VISITS]:
                    values[key] = self.marker(values[key])
                    changed = True
        return changed

    def _json_patch(self, operations: list[Any]) -> bool:
        changed = False
        for operation in operations[:_MAX_VISITS]:
            if not isinstance(operation, dict) or "value" not in operation:
                continue
            path = str(operation.get("path", ""))
            if path.startswith(("/data", "/stringData")):
                value = operation["value"]
                if isinstance(value, dict):
                    operation["value"] = {k: self.marker(v) for k, v in value.items()}
                else:
                    operation["value"] = self.marker(value)
                changed = True
            elif path == _LAST_APPLIED_PATH:
                operation["value"] = self.applied_copy(operation["value"], "secrets")
                changed = True
            elif path in ("/metadata", "/metadata/annotations"):
                value = operation["value"]
                holder = {"metadata": value if path == "/metadata" else {"annotations": value}}
                changed = self._last_applied(holder, "secrets", "") or changed
        return changed

    def _path(self, obj: Any, path: tuple[str, ...]) -> bool:
        """Walk a dotted path iteratively; ``*`` matches every key or list item."""
        frontier: list[Any] = [obj]
        for part in path[:-1]:
            frontier = _children(frontier, part)
        changed = False
        last = path[-1]
        for node in frontier[:_MAX_VISITS]:
            keys = _keys(node, last)
            for key in keys:
                node[key] = self.marker(node[key])
                changed = True
        return changed


def _is_secret(obj: dict[str, Any], resource: str) -> bool:
    return resource == "secrets" or obj.get("kind") == "Secret"


def _keys(node: Any, part: str) -> list[Any]:
    if isinstance(node, dict):
        if part == "*":
            return list(node)[:_MAX_VISITS]
        return [part] if part in node else []
    if isinstance(node, list) and part == "*":
        return list(range(min(len(node), _MAX_VISITS)))
    return []


def _children(nodes: list[Any], part: str) -> list[Any]:
    found: list[Any] = []
    for node in nodes[:_MAX_VISITS]:
        found.extend(node[key] for key in _keys(node, part))
    return found[:_MAX_VISITS]
