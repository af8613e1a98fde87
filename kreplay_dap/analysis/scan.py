"""The operations of a session with their object keys, read as cheaply as possible.

A kreplay file is read in pages of the columns the detectors use (no call sites, no
bodies), small enough to stay in the CPU cache while they are used; each row becomes a
``ScannedOp`` in C (the row plus its object's key), and each object's key tuple is built
once from its id and shared by all its operations (the detectors look their state up by
it on every operation). Other recordings (the Go tool's files) go through the
``Recording`` protocol.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator
from typing import Any

from kreplay_dap.analysis.rows import ScannedOp, scanned
from kreplay_dap.analysis.world import Key
from recorder.errors import NotARecordingError
from recorder.storage.api import Recording
from recorder.storage.reader import KreplayRecording

KEYS_PER_QUERY = 512
# Rows per query. The reader's own ``scan_pages`` takes 5,000 (about 3.5 MB of row
# objects, out of cache by the time the detectors read them); at 1,000 the same scan took
# 15 % less CPU time (2.1 s against 2.5 s for 1M operations, four alternating runs).
SCAN_PAGE_ROWS = 1000
_OBJECT_ID = 15  # position of object_id in SCAN_COLUMNS

Keyed = tuple[ScannedOp, Key]


def operations_with_keys(recording: Recording, session_id: str, max_keys: int) -> Iterator[Keyed]:
    """Each operation of the session in seq order, with its (kind, namespace, name)."""
    if isinstance(recording, KreplayRecording):
        return _scan(recording, session_id, max_keys)
    return (
        (scanned(op), (op.kind, op.namespace, op.name)) for op in recording.operations(session_id)
    )


def _scan(recording: KreplayRecording, session_id: str, max_keys: int) -> Iterator[Keyed]:
    # Chained in C: no Python frame is resumed per operation, only per page.
    return itertools.chain.from_iterable(_pages(recording, session_id, max_keys))


def _pages(
    recording: KreplayRecording, session_id: str, max_keys: int
) -> Iterator[Iterator[Keyed]]:
    for page, page_keys, _ in keyed_pages(recording, session_id, max_keys):
        # Each row becomes its ScannedOp in C (map, not a Python loop per row).
        operations = map(
            tuple.__new__, itertools.repeat(ScannedOp), map(operator.add, page, page_keys)
        )
        yield zip(operations, page_keys, strict=True)


def keyed_pages(
    recording: KreplayRecording, session_id: str, max_keys: int
) -> Iterator[tuple[list[tuple[Any, ...]], list[Key], dict[str, str]]]:
    """Pages of scanned rows, each with its rows' object keys, and the strings the keys
    share (one object per distinct kind or namespace; cleared with the keys when more than
    ``max_keys`` objects have been named)."""
    keys: dict[int, Key] = {}
    shared: dict[str, str] = {}
    object_id_of = operator.itemgetter(_OBJECT_ID)
    for page in scan_pages(recording, session_id):
        if len(keys) > max_keys:
            keys.clear()
            shared.clear()
        ids = list(map(object_id_of, page))
        for missing in set(ids).difference(keys):
            if missing not in keys:  # an earlier load may have named it
                load_keys(recording, missing, keys, shared)
        yield page, list(map(keys.__getitem__, ids)), shared


def scan_pages(recording: KreplayRecording, session_id: str) -> Iterator[list[tuple[Any, ...]]]:
    """The reader's scan in pages of ``SCAN_PAGE_ROWS`` (read at each call)."""
    return recording.scan_pages(session_id, page_rows=SCAN_PAGE_ROWS)


def load_keys(
    recording: KreplayRecording, object_id: int, keys: dict[int, Key], shared: dict[str, str]
) -> Key:
    """Names ``object_id`` and the objects recorded right after it (they come next)."""
    for found, kind, namespace, name in recording.object_keys(object_id, KEYS_PER_QUERY):
        keys[found] = (shared.setdefault(kind, kind), shared.setdefault(namespace, namespace), name)
    key = keys.get(object_id)
    if key is None:
        raise NotARecordingError(f"{recording.path}: object {object_id} missing (corrupt file)")
    return key
