"""Reading a recording back for assertions."""

from __future__ import annotations

import json
from typing import Any

from recorder.storage import Operation, open_recording


def read_ops(path: str, session_id: str = "s1") -> tuple[list[Operation], list[Any], list[Any]]:
    """Operations with their decoded request and response bodies."""
    recording = open_recording(path)
    try:
        ops = list(recording.operations(session_id))
        requests = [_json(recording.body(op.request_ref)) for op in ops]
        responses = [_json(recording.body(op.response_ref)) for op in ops]
    finally:
        recording.close()
    return ops, requests, responses


def _json(data: bytes | None) -> Any:
    return None if data is None else json.loads(data)
