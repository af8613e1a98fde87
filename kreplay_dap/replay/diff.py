"""Field-level diff of two JSON values, iterative (no recursion), with bounded output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_CHANGES = 5000
MAX_DIFF_NODES = 200_000

PathKey = str | int


@dataclass(frozen=True, slots=True)
class Change:
    """One changed field: its path, the old and the new value (``MISSING`` when absent)."""

    path: tuple[PathKey, ...]
    old: Any
    new: Any

    @property
    def path_text(self) -> str:
        return format_path(self.path)


class _Missing:
    def __repr__(self) -> str:
        return "<absent>"


MISSING: Any = _Missing()


def format_path(path: tuple[PathKey, ...]) -> str:
    """``spec.containers[0].image``; keys that are not identifiers are quoted."""
    parts: list[str] = []
    for key in path:
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif key.replace("_", "a").replace("-", "a").isalnum() and not key[:1].isdigit():
            parts.append(f".{key}" if parts else key)
        else:
            parts.append(f"[{json.dumps(key)}]")
    return "".join(parts)


def diff_values(old: Any, new: Any) -> list[Change]:
    """Changes that turn ``old`` into ``new``; dicts by key, lists by index."""
    changes: list[Change] = []
    pending: list[tuple[tuple[PathKey, ...], Any, Any]] = [((), old, new)]
    for _ in range(MAX_DIFF_NODES):
        if not pending or len(changes) >= MAX_CHANGES:
            break
        path, left, right = pending.pop()
        if isinstance(left, dict) and isinstance(right, dict):
            keys = sorted(set(left) | set(right), reverse=True)
            pending.extend(((*path, k), left.get(k, MISSING), right.get(k, MISSING)) for k in keys)
        elif isinstance(left, list) and isinstance(right, list):
            size = max(len(left), len(right))
            pending.extend(
                (
                    (*path, i),
                    left[i] if i < len(left) else MISSING,
                    right[i] if i < len(right) else MISSING,
                )
                for i in range(size - 1, -1, -1)
            )
        elif left is not right and (type(left) is not type(right) or left != right):
            changes.append(Change(path, left, right))
    return changes


def value_at(document: Any, path: tuple[PathKey, ...]) -> Any:
    """The value at ``path`` inside ``document``, or MISSING."""
    value = document
    for key in path:
        if isinstance(value, dict) and isinstance(key, str) and key in value:
            value = value[key]
            continue
        if not (isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value)):
            return MISSING
        value = value[key]
    return value
