"""Variable handles: what each ``variablesReference`` points at, valid until the next stop.

Containers are expanded lazily and paged: JSON subtrees, the operation's fields, the diff,
findings, and the cluster tree (kind -> namespace -> objects).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kreplay_dap.dap.present import short_value, type_name
from kreplay_dap.replay.diff import PathKey
from recorder.storage.model import ObjectRef

MAX_HANDLES = 100_000
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Container:
    """A node the client may expand; ``ref``/``path`` locate JSON inside an object."""

    kind: str  # json | cluster | cluster-kind | cluster-ns
    value: Any = None
    ref: ObjectRef | None = None
    path: tuple[PathKey, ...] = ()
    label: str = ""


class Handles:
    """Integer handles for containers; cleared at every stop."""

    def __init__(self) -> None:
        self._items: dict[int, Container] = {}
        self._next = 1

    def reset(self) -> None:
        self._items.clear()

    def add(self, container: Container) -> int:
        if len(self._items) >= MAX_HANDLES:
            return 0
        handle = self._next
        self._next += 1
        self._items[handle] = container
        return handle

    def get(self, handle: int) -> Container | None:
        return self._items.get(handle)


def json_variable(handles: Handles, name: str, value: Any, parent: Container) -> dict[str, Any]:
    """A DAP Variable for one JSON value; containers get a handle and child counts."""
    variable: dict[str, Any] = {
        "name": name,
        "value": short_value(value),
        "type": type_name(value),
        "variablesReference": 0,
    }
    if isinstance(value, dict | list) and value:
        child_path = (*parent.path, int(name) if isinstance(parent.value, list) else name)
        child = Container("json", value, parent.ref, child_path if parent.ref else ())
        variable["variablesReference"] = handles.add(child)
        if isinstance(value, list):
            variable["indexedVariables"] = len(value)
        else:
            variable["namedVariables"] = len(value)
    if parent.ref is not None and parent.kind == "json":
        variable["evaluateName"] = _evaluate_name(parent, name)
    return variable


def _evaluate_name(parent: Container, name: str) -> str:
    parts = ["object"]
    for key in (*parent.path, name):
        text = str(key)
        parts.append(
            f".{text}" if text.isidentifier() else f"[{text}]" if text.isdigit() else f'["{text}"]'
        )
    return "".join(parts)


def json_children(
    handles: Handles, container: Container, start: int, count: int
) -> list[dict[str, Any]]:
    value = container.value
    if isinstance(value, list):
        end = len(value) if count <= 0 else min(len(value), start + min(count, MAX_PAGE))
        return [json_variable(handles, str(i), value[i], container) for i in range(start, end)]
    if isinstance(value, dict):
        keys = list(value)[:MAX_PAGE] if count <= 0 else list(value)[start : start + count]
        return [json_variable(handles, str(k), value[k], container) for k in keys]
    return []


def plain_variables(handles: Handles, fields: dict[str, Any]) -> list[dict[str, Any]]:
    root = Container("json", fields)
    return [json_variable(handles, key, value, root) for key, value in fields.items()]
