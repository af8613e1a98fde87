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
    return {"name": name, "group": group, "kind": resource}


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


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str]]) -> ApiStatusError:
    """422 Invalid; ``causes`` are (field, message) pairs as the API server reports them."""
    qualified = f"{kind}.{group}" if group else kind
    joined = ", ".join(f"{field}: {message}" for field, message in causes)
    details = {
        "name": name,
        "group": group,
        "kind": kind,
        "causes": [
            {"reason": "FieldValueInvalid", "message": message, "field": field}
            for field, message in causes
        ],
    }
    return ApiStatusError(422, f'{qualified} "{name}" is invalid: {joined}', details=details)


def bad_request(message: str) -> ApiStatusError:
    return ApiStatusError(400, message)
