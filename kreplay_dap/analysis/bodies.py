"""Objects as flat ``path -> value`` maps without server bookkeeping, decoded lazily.

Two versions of an object are "the same" when they differ only in resourceVersion,
managedFields, generation or time-valued fields (a timestamp written on every
reconcile is not a change anybody acts on).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from recorder.storage.api import Recording

MAX_LEAVES = 20_000
MAX_DEPTH_ITEMS = 100_000
_FLAT_CACHE = 4096
_IGNORED_PATHS = frozenset(
    {
        "metadata.resourceVersion",
        "metadata.managedFields",
        "metadata.generation",
        "metadata.selfLink",
    }
)
_TIME_KEY = re.compile(r"(?i)(time|timestamp)$")
_TIME_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}")

Flat = dict[str, Any]


_TIME_KEYS: dict[str, bool] = {}
_MAX_TIME_KEYS = 10_000


def _time_key(key: str) -> bool:
    """Whether a field name says it holds a time; cached (a few names repeat everywhere)."""
    verdict = _TIME_KEYS.get(key)
    if verdict is None:
        if len(_TIME_KEYS) >= _MAX_TIME_KEYS:
            _TIME_KEYS.clear()
        verdict = _TIME_KEYS[key] = bool(_TIME_KEY.search(key)) and key != "creationTimestamp"
    return verdict


def unwrap(body: Any) -> Any:
    """A watch event body ``{"type", "object"}`` becomes its object."""
    if isinstance(body, dict) and "object" in body and "type" in body:
        return body["object"]
    return body


def flatten(body: Any) -> Flat | None:
    """The normalized leaves of one object, iteratively; None when it is not an object."""
    body = unwrap(body)
    if not isinstance(body, dict) or body.get("kind", "").endswith("List"):
        return None
    flat: Flat = {}
    stack: list[tuple[str, Any]] = [("", body)]
    for _ in range(MAX_DEPTH_ITEMS):
        if not stack or len(flat) >= MAX_LEAVES:
            break
        prefix, value = stack.pop()
        if isinstance(value, dict):
            if not value:
                flat[prefix] = "{}"
            for key, item in value.items():
                name = str(key)
                path = f"{prefix}.{name}" if prefix else name
                # _time_key and _time_value, inlined: this runs for every field of every body.
                time_name = _TIME_KEYS.get(name)
                if time_name is None:
                    time_name = _time_key(name)
                if time_name or path in _IGNORED_PATHS:
                    continue
                # "-" at index 4 is necessary for a time value: most strings skip the regex.
                if isinstance(item, str) and item[4:5] == "-" and _TIME_VALUE.match(item):
                    continue
                stack.append((path, item))
        elif isinstance(value, list):
            if not value:
                flat[prefix] = "[]"
            for index, item in enumerate(value):
                stack.append((f"{prefix}[{index}]", item))
        else:
            flat[prefix] = value
    return flat


def changed_paths(before: Flat, after: Flat) -> dict[str, Any]:
    """Paths whose value differs, with the new value (None when removed)."""
    changes = {path: value for path, value in after.items() if before.get(path, _MISSING) != value}
    for path in before:
        if path not in after:
            changes[path] = None
    return changes


_MISSING = object()


class BodyCache:
    """Decodes and flattens bodies on demand, keeping a bounded number of results."""

    def __init__(self, recording: Recording) -> None:
        self._recording = recording
        self._flats: OrderedDict[int, Flat | None] = OrderedDict()
        self.decoded = 0

    def flat(self, ref: int | None) -> Flat | None:
        if ref is None:
            return None
        if ref in self._flats:
            self._flats.move_to_end(ref)
            return self._flats[ref]
        self.decoded += 1
        result = flatten(self._recording.body_json(ref))
        self._flats[ref] = result
        if len(self._flats) > _FLAT_CACHE:
            self._flats.popitem(last=False)
        return result

    def raw(self, ref: int | None) -> Any:
        return None if ref is None else unwrap(self._recording.body_json(ref))

    def request_resource_version(self, ref: int | None) -> str:
        body = self.raw(ref)
        if isinstance(body, dict):
            metadata = body.get("metadata")
            if isinstance(metadata, dict):
                return str(metadata.get("resourceVersion") or "")
        return ""
