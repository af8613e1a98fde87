"""Field errors as kube-apiserver words schema violations, and the 422 ``Invalid`` Status of them.

A ``FieldError`` is one ``details.causes`` entry: ``reason`` (``FieldValueInvalid``, ...),
``field`` (``spec.replicas``) and ``body``, the message without the field, formatted the way
k8s.io/apimachinery's ``field.Error.ErrorBody`` formats it (``Invalid value: "x": <detail>``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kreplay_dap.apiserver.status import (
    CAUSE_LABELS,
    DUPLICATE,
    FORBIDDEN,
    INVALID,
    NOT_SUPPORTED,
    REQUIRED,
    TOO_LONG,
    TOO_MANY,
    TYPE_INVALID,
    ApiStatusError,
)

# These reasons never show the offending value (a Required value has none to show).
_VALUE_HIDDEN = frozenset({REQUIRED, FORBIDDEN, TOO_LONG})
# A Status with thousands of causes helps nobody; the real server has no cap, we keep the first.
MAX_CAUSES = 256
# Go prints floats with %v: integral values without a fraction up to this magnitude.
_GO_PLAIN_FLOAT_LIMIT = 1e21


@dataclass(frozen=True, slots=True)
class FieldError:
    """One field-level error: ``reason``, ``field`` path and the message ``body``."""

    reason: str
    field: str
    body: str

    def text(self) -> str:
        return f"{self.field}: {self.body}"


def go_number(value: float) -> str:
    """A number as Go's ``%v`` prints it (``3`` for 3.0, ``1e+21`` for 1e21)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < _GO_PLAIN_FLOAT_LIMIT:
        return str(int(value))
    return repr(value)


def go_value(value: Any) -> str:
    """A bad value as ``field.Error`` shows it: scalars plainly, strings quoted, else JSON."""
    if isinstance(value, bool | int | float):
        return go_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return repr(value)[:200]


def _error(reason: str, field: str, value: Any, detail: str, show_value: bool) -> FieldError:
    body = CAUSE_LABELS[reason]
    if show_value and reason not in _VALUE_HIDDEN:
        body = f"{body}: {go_value(value)}"
    if detail:
        body = f"{body}: {detail}"
    return FieldError(reason, field, body)


def required(field: str, detail: str = "") -> FieldError:
    return _error(REQUIRED, field, None, detail, show_value=False)


def forbidden(field: str, detail: str) -> FieldError:
    return _error(FORBIDDEN, field, None, detail, show_value=False)


def invalid(field: str, value: Any, detail: str) -> FieldError:
    return _error(INVALID, field, value, detail, show_value=True)


def type_invalid(field: str, value: Any, detail: str) -> FieldError:
    return _error(TYPE_INVALID, field, value, detail, show_value=True)


def not_supported(field: str, value: Any, allowed: list[str]) -> FieldError:
    quoted = ", ".join(json.dumps(v, ensure_ascii=False) for v in allowed)
    detail = f"supported values: {quoted}" if allowed else ""
    return _error(NOT_SUPPORTED, field, value, detail, show_value=True)


def too_long(field: str, limit: int) -> FieldError:
    unit = "byte" if limit == 1 else "bytes"
    return _error(TOO_LONG, field, None, f"may not be more than {limit} {unit}", show_value=False)


def too_many(field: str, actual: int, limit: int) -> FieldError:
    unit = "item" if limit == 1 else "items"
    return _error(TOO_MANY, field, actual, f"must have at most {limit} {unit}", show_value=True)


def duplicate(field: str, value: Any) -> FieldError:
    return _error(DUPLICATE, field, value, "", show_value=True)


def invalid_status(kind: str, group: str, name: str, errors: list[FieldError]) -> ApiStatusError:
    """422 Invalid as ``apierrors.NewInvalid`` builds it: one cause per error, and a message
    joining them (in brackets when there are several; repeated messages once)."""
    kept = errors[:MAX_CAUSES]
    texts = list(dict.fromkeys(error.text() for error in kept))
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    qualified = f"{kind}.{group}" if group else kind
    causes = [{"reason": e.reason, "message": e.body, "field": e.field} for e in kept]
    details = {"name": name, "group": group, "kind": kind, "causes": causes}
    return ApiStatusError(422, f'{qualified} "{name}" is invalid: {joined}', details=details)
