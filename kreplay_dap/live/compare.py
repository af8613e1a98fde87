"""Compare a live write with the recorded one, ignoring what the server or the clock decides.

Server-managed metadata (resourceVersion, managedFields, uid, creationTimestamp, ...) never
counts, nor do paths the user names with ``--ignore-path``. Time-valued fields
(RFC 3339 strings such as ``lastTransitionTime`` or ``lastReconcileTime``) count only in
their presence: a timestamp against another timestamp is equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from recorder.errors import InvalidInputError

DEFAULT_IGNORED_PATHS: tuple[str, ...] = (
    "metadata.resourceVersion",
    "metadata.managedFields",
    "metadata.uid",
    "metadata.creationTimestamp",
    "metadata.generation",
    "metadata.selfLink",
    "metadata.deletionTimestamp",
)
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")
_MAX_NODES = 200_000
_MAX_CHANGES = 500
_TIME_MARK = "<time>"


@dataclass(frozen=True, slots=True)
class FieldDifference:
    path: str
    recorded: Any
    live: Any

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "recorded": self.recorded, "live": self.live}


def parse_ignore_path(text: str) -> tuple[str, ...]:
    """``.spec.x``, ``spec.x``, ``$.spec.x`` or ``status.conditions[*].message``."""
    cleaned = text.strip().removeprefix("$").lstrip(".")
    if not cleaned or len(cleaned) > 512:
        raise InvalidInputError(f"bad --ignore-path {text!r}: expected a path like spec.replicas")
    parts = tuple(part for part in re.split(r"\.|\[(\*|\d+)\]", cleaned) if part)
    if any(not re.fullmatch(r"[A-Za-z0-9_\-/*]+", part) for part in parts):
        raise InvalidInputError(f"bad --ignore-path {text!r}: use dotted names, [N] or [*]")
    return parts


def _matches(path: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    if len(path) < len(pattern):
        return False
    return all(want in {"*", got} for want, got in zip(pattern, path, strict=False))


def diff_bodies(
    recorded: Any, live: Any, ignore: tuple[tuple[str, ...], ...] = ()
) -> list[FieldDifference]:
    """Field-level differences between two JSON documents, ignored paths excluded."""
    patterns = tuple(parse_ignore_path(p) for p in DEFAULT_IGNORED_PATHS) + ignore
    differences: list[FieldDifference] = []
    stack: list[tuple[tuple[str, ...], Any, Any]] = [((), recorded, live)]
    for _ in range(_MAX_NODES):
        if not stack or len(differences) >= _MAX_CHANGES:
            break
        path, old, new = stack.pop()
        if any(_matches(path, pattern) for pattern in patterns):
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            for key in sorted(set(old) | set(new), reverse=True):
                stack.append(((*path, str(key)), old.get(key), new.get(key)))
        elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
            for index in range(len(old) - 1, -1, -1):
                stack.append(((*path, str(index)), old[index], new[index]))
        elif _normalized(old) != _normalized(new):
            differences.append(FieldDifference(_render(path), old, new))
    return differences


def _normalized(value: Any) -> Any:
    if isinstance(value, str) and _TIMESTAMP.match(value):
        return _TIME_MARK
    return value


def _render(path: tuple[str, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if part.isdigit() else f".{part}"
    return text or "."
