"""Typed request arguments: a wrong type is an "invalid argument" error naming it."""

from __future__ import annotations

from typing import Any

from recorder.errors import InvalidInputError

MAX_INTEGER = 2**53  # JSON numbers beyond this are not exact integers


def int_argument(
    args: dict[str, Any],
    name: str,
    command: str,
    default: int | None = 0,
    minimum: int | None = 0,
) -> int:
    """``args[name]`` as an integer (``default`` when absent or null; required when the
    default is None), at least ``minimum``; else InvalidInputError."""
    value = args.get(name)
    if value is None:
        if default is None:
            raise InvalidInputError(f"{command}: argument {name!r} is required")
        return default
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_INTEGER:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) > MAX_INTEGER:
        expected = "an integer" if minimum is None else f"an integer >= {minimum}"
        raise InvalidInputError(
            f"{command}: invalid argument {name!r}: expected {expected}, got {_shown(value)}"
        )
    if minimum is not None and value < minimum:
        raise InvalidInputError(
            f"{command}: invalid argument {name!r}: expected an integer >= {minimum}, got {value}"
        )
    return value


def object_argument(args: dict[str, Any], name: str, command: str) -> dict[str, Any]:
    """``args[name]``, which must be a JSON object."""
    value = args.get(name)
    if not isinstance(value, dict):
        raise InvalidInputError(
            f"{command}: invalid argument {name!r}: expected an object, got {_shown(value)}"
        )
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"
