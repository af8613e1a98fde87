"""How operations look in the IDE: frame names, listing lines, short values."""

from __future__ import annotations

import json
from typing import Any

from recorder.storage.model import Operation, ReconcileSpan

MAX_VALUE_CHARS = 200


def target(kind: str, namespace: str, name: str) -> str:
    where = f"{namespace}/{name}" if namespace else name
    return f"{kind} {where}".strip()


def operation_title(op: Operation) -> str:
    """``PATCH apps/v1 Deployment default/web (#1234)``."""
    verb = op.verb.upper() if not op.event_type else f"WATCH {op.event_type}"
    sub = f"/{op.subresource}" if op.subresource else ""
    return f"{verb} {op.api_version} {target(op.kind, op.namespace, op.name)}{sub} (#{op.seq})"


def span_title(span: ReconcileSpan) -> str:
    """``reconcile Widget default/w1 #57``."""
    return f"reconcile {target(span.kind, span.namespace, span.name)} #{span.span_id}"


def listing_line(op: Operation) -> str:
    code = op.error_code or op.status_code
    status = f"{code}" if code else "-"
    error = f" {op.error_reason}" if op.error_reason else ""
    who = f"{op.actor}/{op.thread}" if op.thread else op.actor
    return f"#{op.seq} {operation_title(op).rsplit(' (#', 1)[0]} -> {status}{error} [{who}]"


def short_value(value: Any) -> str:
    """One line for a value: scalars as JSON, containers summarised."""
    if isinstance(value, dict):
        return "{…}" if value else "{}"
    if isinstance(value, list):
        return f"[{len(value)} items]"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "number"
    )


def redact(kind: str, body: Any) -> Any:
    """Secret data shown as ``<redacted>`` (a copy; cached bodies stay untouched)."""
    if kind != "Secret" or not isinstance(body, dict):
        return body
    copy = dict(body)
    for key in ("data", "stringData"):
        if isinstance(copy.get(key), dict):
            copy[key] = dict.fromkeys(copy[key], "<redacted>")
    return copy
