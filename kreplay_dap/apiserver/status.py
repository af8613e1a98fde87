"""Kubernetes ``Status`` objects and the one error type the resolver raises to produce them."""

from __future__ import annotations

import json
from typing import Any

from recorder.errors import InvalidInputError

REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    500: "InternalError",
    504: "Timeout",
}
# The cause type of a field error, from how its message starts (as field.Error words them).
# Field-error reasons (apimachinery's field.ErrorType) and the words their messages start with.
REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
TYPE_INVALID = "FieldValueTypeInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
CAUSE_LABELS = {
    REQUIRED: "Required value",
    INVALID: "Invalid value",
    TYPE_INVALID: "Invalid value",
    NOT_SUPPORTED: "Unsupported value",
    TOO_LONG: "Too long",
    TOO_MANY: "Too many",
    DUPLICATE: "Duplicate value",
    FORBIDDEN: "Forbidden",
}


class ApiStatusError(InvalidInputError):
    """A request the API server answers with a non-success ``Status``."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details

    def status(self) -> dict[str, Any]:
        return failure_status(self.code, self.reason, self.message, self.details)


def failure_status(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def success_status(details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}}
    body["status"] = "Success"
    if details:
        body["details"] = details
    return body


def encode(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _details(group_resource: str, name: str) -> dict[str, Any]:
    resource, _, group = group_resource.partition(".")
    details: dict[str, Any] = {"name": name, "kind": resource}
    if group:  # Go omits an empty group
        details["group"] = group
    return details


def not_found(group_resource: str, name: str) -> ApiStatusError:
    return ApiStatusError(
        404, f'{group_resource} "{name}" not found', details=_details(group_resource, name)
    )


def already_exists(group_resource: str, name: str) -> ApiStatusError:
    return ApiStatusError(
        409,
        f'{group_resource} "{name}" already exists',
        reason="AlreadyExists",
        details=_details(group_resource, name),
    )


def conflict(group_resource: str, name: str, why: str = "") -> ApiStatusError:
    text = why or (
        "the object has been modified; please apply your changes to the latest version"
        " and try again"
    )
    return ApiStatusError(
        409,
        f'Operation cannot be fulfilled on {group_resource} "{name}": {text}',
        reason="Conflict",
        details=_details(group_resource, name),
    )


def _cause_type(message: str) -> str:
    return next(
        (reason for reason, label in CAUSE_LABELS.items() if message.startswith(label)), INVALID
    )


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str]]) -> ApiStatusError:
    """422 Invalid; ``causes`` are (field, message) pairs as the API server reports them.

    Several causes are bracketed in the message, as Go's aggregated errors print.
    """
    qualified = f"{kind}.{group}" if group else kind
    texts = [f"{field}: {message}" for field, message in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details: dict[str, Any] = {k: v for k, v in (("name", name), ("group", group),
                                                  ("kind", kind)) if v}  # fmt: skip
    details["causes"] = [
        {"reason": _cause_type(message), "message": message, "field": field}
        for field, message in causes
    ]
    return ApiStatusError(422, f'{qualified} "{name}" is invalid: {joined}', details=details)


def forbidden(
    group_resource: str, name: str, why: str, causes: list[dict[str, str]] | None = None
) -> ApiStatusError:
    """403 Forbidden as admission plugins word it: ``<resource> "<name>" is forbidden: why``."""
    details = _details(group_resource, name)
    if causes:
        details["causes"] = causes
    return ApiStatusError(403, f'{group_resource} "{name}" is forbidden: {why}', details=details)


def bad_request(message: str) -> ApiStatusError:
    return ApiStatusError(400, message)
