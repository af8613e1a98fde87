"""The operations of a session with their object keys, read as cheaply as possible.

A kreplay file is read in pages of the columns the detectors use (no call sites, no
bodies); each object's key tuple is built once from its id and shared by all its
operations, and the short strings (verb, actor, ...) are shared too. Shared strings keep
their hash, which matters: every detector looks its state up by (actor, key) on every
operation. Other recordings (the Go tool's files) go through the ``Recording`` protocol.
"""

from __future__ import annotations

from collections.abc import Iterator

from kreplay_dap.analysis.world import Key
from recorder.storage.api import Recording
from recorder.storage.model import Operation
from recorder.storage.reader import KreplayRecording

MAX_SHARED_STRINGS = 100_000

Keyed = tuple[Operation, Key]


def operations_with_keys(recording: Recording, session_id: str, max_keys: int) -> Iterator[Keyed]:
    """Each operation of the session in seq order, with its (kind, namespace, name)."""
    if isinstance(recording, KreplayRecording):
        return _scan(recording, session_id, max_keys)
    return ((op, (op.kind, op.namespace, op.name)) for op in recording.operations(session_id))


def _scan(recording: KreplayRecording, session_id: str, max_keys: int) -> Iterator[Keyed]:
    keys: dict[int, Key] = {}
    shared: dict[str, str] = {}
    for page in recording.scan_pages(session_id):
        if len(shared) > MAX_SHARED_STRINGS:
            shared.clear()  # only a speed-up: strings are equal either way
        if len(keys) > max_keys:
            keys.clear()
        for row in page:
            (seq, ts_ns, verb, event_type, subresource, rv, request_ref, response_ref,
             status, error, reason, message, duration, actor, span_id, object_id) = row  # fmt: skip
            key = keys.get(object_id)
            if key is None:
                kind, namespace, name = recording.object_key(object_id)
                key = keys[object_id] = (
                    shared.setdefault(kind, kind),
                    shared.setdefault(namespace, namespace),
                    name,
                )
            verb = shared.setdefault(verb, verb)
            actor = shared.setdefault(actor, actor)
            op = Operation(
                session_id, seq, ts_ns, verb, shared.setdefault(event_type, event_type), "",
                key[0], "", shared.setdefault(subresource, subresource), key[1], key[2], "", rv,
                None, "", None, None, status, error, reason, message, duration, actor, "",
                span_id, (), request_ref, response_ref,
            )  # fmt: skip
            yield op, key
