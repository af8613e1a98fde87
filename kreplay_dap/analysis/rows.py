"""The operation the detectors see: a row of the analysis' scan plus its object's key.

A tuple, not a dataclass: the scan makes one per operation straight from the SQL row
(``tuple.__new__`` over ``row + key``, all in C), which costs a fraction of building an
``Operation``. The field order is ``KreplayRecording.SCAN_COLUMNS``'s, then the key.
"""

from __future__ import annotations

from typing import NamedTuple

from recorder.storage.model import Operation


class ScannedOp(NamedTuple):
    seq: int
    ts_ns: int
    verb: str
    event_type: str
    subresource: str
    resource_version: str
    request_ref: int | None
    response_ref: int | None
    status_code: int
    error_code: int
    error_reason: str
    error_message: str
    duration_us: int
    actor: str
    span_id: int | None
    object_id: int
    kind: str
    namespace: str
    name: str


def scanned(op: Operation) -> ScannedOp:
    """An operation read through the ``Recording`` protocol (other recording flavours)."""
    return ScannedOp(
        op.seq, op.ts_ns, op.verb, op.event_type, op.subresource, op.resource_version,
        op.request_ref, op.response_ref, op.status_code, op.error_code, op.error_reason,
        op.error_message, op.duration_us, op.actor, op.span_id, 0, op.kind, op.namespace,
        op.name,
    )  # fmt: skip
