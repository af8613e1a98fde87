"""Launch arguments: validated against ``launch_arguments.json``, the single definition."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from recorder.errors import InvalidInputError

# Keys every DAP client may add to a launch configuration; they carry no meaning here.
CLIENT_KEYS = frozenset(
    {"type", "request", "name", "noDebug", "presentation", "preLaunchTask", "postDebugTask",
     "internalConsoleOptions", "debugServer", "cwd", "env", "console"}
)  # fmt: skip
_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "boolean": bool,
    "integer": int,
    "object": dict,
    "array": list,
}
MAX_ITEMS = 256


def load_schema() -> dict[str, Any]:
    text = resources.files("kreplay_dap.dap").joinpath("launch_arguments.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@dataclass(frozen=True, slots=True)
class LaunchConfig:
    database: str
    session: str | None = None
    mode: str = "replay"
    stop_on_entry: bool = True
    start_at: int | None = None
    slow_threshold_ms: int = 1000
    loops_enabled: bool = True
    loop_min_repeats: int = 5
    full_analysis_max_ops: int = 200_000
    path_mappings: list[tuple[str, str]] = field(default_factory=list)
    redact_secrets: bool = True
    program: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def _check(name: str, value: Any, schema: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """Check one value's type, enum and minimum; return its children to check."""
    expected = schema.get("type", "")
    python_type = _TYPES.get(expected, object)
    if (isinstance(value, bool) and expected != "boolean") or not isinstance(value, python_type):
        raise InvalidInputError(f"launch argument {name!r} must be of type {expected}")
    if "enum" in schema and value not in schema["enum"]:
        raise InvalidInputError(f"launch argument {name!r} must be one of {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        raise InvalidInputError(f"launch argument {name!r} must be >= {schema['minimum']}")
    if isinstance(value, list):
        if len(value) > MAX_ITEMS:
            raise InvalidInputError(f"launch argument {name!r} has more than {MAX_ITEMS} items")
        return [(f"{name}[{i}]", item, schema.get("items", {})) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return _object_children(name, value, schema)
    return []


def _object_children(
    name: str, value: dict[str, Any], schema: dict[str, Any]
) -> list[tuple[str, Any, dict[str, Any]]]:
    properties: dict[str, Any] = schema.get("properties", {})
    for required in schema.get("required", []):
        if required not in value:
            raise InvalidInputError(f"launch argument {_join(name, required)!r} is required")
    children = []
    for key, item in value.items():
        if key not in properties:
            if not name and (key in CLIENT_KEYS or key.startswith("__")):
                continue
            raise InvalidInputError(f"unknown launch argument {_join(name, key)!r}")
        children.append((_join(name, key), item, properties[key]))
    return children


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def validate(arguments: dict[str, Any], schema: dict[str, Any]) -> None:
    """Raise InvalidInputError naming the first unknown or invalid argument."""
    pending: list[tuple[str, Any, dict[str, Any]]] = [("", arguments, schema)]
    for _ in range(10_000):
        if not pending:
            return
        name, value, rule = pending.pop()
        pending.extend(_check(name, value, rule))
    raise InvalidInputError("launch arguments nested too deeply")


def parse_launch(arguments: dict[str, Any]) -> LaunchConfig:
    validate(arguments, load_schema())
    loops = arguments.get("loopDetection", {})
    mappings = [(m["localRoot"], m["remoteRoot"]) for m in arguments.get("pathMappings", [])]
    return LaunchConfig(
        database=arguments["database"],
        session=arguments.get("session"),
        mode=arguments.get("mode", "replay"),
        stop_on_entry=arguments.get("stopOnEntry", True),
        start_at=arguments.get("startAt"),
        slow_threshold_ms=arguments.get("slowThresholdMs", 1000),
        loops_enabled=loops.get("enabled", True),
        loop_min_repeats=loops.get("minRepeats", 5),
        full_analysis_max_ops=loops.get("fullAnalysisMaxOps", 200_000),
        path_mappings=mappings,
        redact_secrets=arguments.get("redactSecrets", True),
        program=arguments.get("program"),
        raw=dict(arguments),
    )
