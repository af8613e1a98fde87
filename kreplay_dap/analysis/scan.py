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
from recorder.errors import NotARecordingError
from recorder.storage.api import Recording
from recorder.storage.model import Operation
from recorder.storage.reader import KreplayRecording

MAX_SHARED_STRINGS = 100_000
KEYS_PER_QUERY = 512

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
                key = _load_keys(recording, object_id, keys, shared)
            verb = shared.setdefault(verb, verb)
            actor = shared.setdefault(actor, actor)
            op = Operation(
                session_id, seq, ts_ns, verb, shared.setdefault(event_type, event_type), "",
                key[0], "", shared.setdefault(subresource, subresource), key[1], key[2], "", rv,
                None, "", None, None, status, error, reason, message, duration, actor, "",
                span_id, (), request_ref, response_ref,
            )  # fmt: skip
            yield op, key


def _load_keys(
    recording: KreplayRecording, object_id: int, keys: dict[int, Key], shared: dict[str, str]
) -> Key:
    """Names ``object_id`` and the objects recorded right after it (they come next)."""
    for found, kind, namespace, name in recording.object_keys(object_id, KEYS_PER_QUERY):
        keys[found] = (shared.setdefault(kind, kind), shared.setdefault(namespace, namespace), name)
    key = keys.get(object_id)
    if key is None:
        raise NotARecordingError(f"{recording.path}: object {object_id} missing (corrupt file)")
    return key
