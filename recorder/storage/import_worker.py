"""The import's reading process: ``python -m recorder.storage.import_worker ARGS``.

It opens the Go-tool file read-only, runs ``SeedReader`` over it and sends each event as
one ``marshal`` frame: ``SESSION`` (first row, offsets), ``OPS`` (pages of operations as
field tuples, with their seed origins), then ``END``. Any error becomes a ``FAILED`` frame.

The importer takes a page only between its 20,000-operation transactions, and a pipe
holds half a page. So a sender thread writes the frames (``os.write`` releases the GIL)
from a queue of at most ``LOOKAHEAD`` frames, and the reading goes on while the importer
writes: the two processes overlap instead of taking turns.

``ImportWorker`` is the importer's side: it starts the process and turns its frames back
into the same events, in the same order, that ``SeedReader`` yields in-process.
"""

from __future__ import annotations

import json
import marshal
import operator
import os
import queue
import select
import sqlite3
import sys
import threading
from collections.abc import Iterator
from typing import Any

from recorder.collector import fewer_collections
from recorder.errors import KreplayError, NotARecordingError
from recorder.frames import WorkerError, WorkerProcess, write_failure, write_frame
from recorder.storage.connection import open_read_only
from recorder.storage.model import Operation
from recorder.storage.seed_reader import (
    MAX_SOURCE_ROWS,
    SEED_FIELDS,
    Converted,
    SeedEvent,
    SeedReader,
    SessionStart,
)

SESSION = 1
OPS = 2
END = 3
PAGE_ROWS = 1_000  # about 2 MB of bodies: small enough to stay in cache on both sides
# Bigger bodies are read by the importer itself, and a frame holds at most this much of
# the others: a page of huge objects stays far below recorder.frames.MAX_FRAME.
INLINE_BODY_MAX = 4 << 20
FRAME_BODY_BYTES = 32 << 20
LOOKAHEAD = 32  # frames: more than one import batch (importer.BATCH) of pages
QUEUE_WAIT_S = 1.0  # between checks that the sender thread is still alive
SWITCH_INTERVAL_S = 0.0002
_fields_of = operator.attrgetter(*SEED_FIELDS)


class ImportWorker:
    """The reading process of one import; ``close()`` it in every case."""

    def __init__(self, source: str, columns: tuple[str, ...], conn: sqlite3.Connection) -> None:
        """``conn``: the importer's own read-only connection to ``source``."""
        args = {"source": source, "columns": list(columns)}
        self.conn = conn
        self.worker = WorkerProcess(
            "recorder.storage.import_worker", args, "the import's reading process"
        )

    def events(self) -> Iterator[SeedEvent]:
        worker = self.worker
        for _ in range(2 * MAX_SOURCE_ROWS):  # a page or a session start per row at most
            kind, payload = worker.read()
            if kind == OPS:
                rows, origins, held_back = marshal.loads(payload)
                page = Converted([Operation(*fields) for fields in rows], origins)
                yield self._with_bodies(page, held_back)
            elif kind == SESSION:
                first, seq_offset, id_offset = marshal.loads(payload)
                yield SessionStart(first, seq_offset, id_offset)
            elif kind == END:
                return
            else:
                raise worker.unexpected(kind, payload)
        raise WorkerError("the import's reading process sent too many frames")

    def _with_bodies(self, page: Converted, held_back: list[tuple[int, int]]) -> Converted:
        """The page with the bodies its helper held back (over ``INLINE_BODY_MAX``)."""
        for index, row_id in held_back:
            row = self.conn.execute(
                "SELECT CAST(resource_data AS BLOB) FROM operations WHERE id = ?", (row_id,)
            ).fetchone()
            if row is None:
                raise WorkerError(f"row {row_id} of the source went away during the import")
            page.ops[index].response_body = row[0]
        return page

    def idle(self) -> bool:
        """Whether no frame is waiting: the importer may write what it has meanwhile."""
        return not select.select([self.worker.from_worker], [], [], 0)[0]

    def close(self) -> None:
        self.worker.close()


def _frames(event: SeedEvent) -> Iterator[tuple[int, bytes]]:
    """One frame, or a page cut where its bodies pass ``FRAME_BODY_BYTES``."""
    if not isinstance(event, Converted):
        yield SESSION, marshal.dumps((event.first, event.seq_offset, event.id_offset))
        return
    start, size = 0, 0
    for index, op in enumerate(event.ops):
        body = len(op.response_body or b"")
        if size + body > FRAME_BODY_BYTES and index > start:
            yield _ops_frame(event, start, index)
            start, size = index, 0
        size += body
    yield _ops_frame(event, start, len(event.ops))


def _ops_frame(page: Converted, start: int, stop: int) -> tuple[int, bytes]:
    ops = page.ops[start:stop]
    first, last = ops[0].seq, ops[-1].seq
    origins = [origin for origin in page.origins if first <= origin[0] <= last]
    held = [(index - start, row_id) for index, row_id in page.held_back if start <= index < stop]
    return OPS, marshal.dumps((list(map(_fields_of, ops)), origins, held))


class _FrameSender:
    """Writes queued frames to the importer on a thread; ``None`` ends the queue."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.frames: queue.Queue[tuple[int, bytes] | None] = queue.Queue(LOOKAHEAD)
        self.error: OSError | WorkerError | None = None
        self.thread = threading.Thread(target=self._run, name="import-frames", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for _ in range(2 * MAX_SOURCE_ROWS):
            frame = self.frames.get()
            if frame is None:
                return
            try:
                write_frame(self.fd, *frame)
            except (OSError, WorkerError) as error:  # the importer is gone
                self.error = error
                return

    def send(self, frame: tuple[int, bytes] | None) -> None:
        """Queues a frame, waiting while the queue is full; the sender's error if it died."""
        for _ in range(2 * MAX_SOURCE_ROWS):
            if self.error is not None:
                raise self.error
            try:
                self.frames.put(frame, timeout=QUEUE_WAIT_S)
                return
            except queue.Full:
                continue

    def close(self) -> OSError | WorkerError | None:
        """Sends what is queued and stops the thread; the error that stopped it, if any."""
        if self.error is None:
            self.send(None)
        self.thread.join()
        return self.error


def _run(args: dict[str, Any], sender: _FrameSender) -> None:
    source, columns = str(args["source"]), tuple(map(str, args["columns"]))
    conn = open_read_only(source, memory_map=False)  # one pass: keep RSS small
    try:
        with fewer_collections():
            reader = SeedReader(conn, columns, PAGE_ROWS, INLINE_BODY_MAX, source=source)
            for event in reader.events():
                for frame in _frames(event):
                    sender.send(frame)
    except sqlite3.DatabaseError as error:
        raise NotARecordingError(f"{source}: corrupt or truncated ({error})") from error
    finally:
        conn.close()
    sender.send((END, b""))


def main(argv: list[str]) -> int:
    to_parent = os.dup(1)
    os.dup2(2, 1)  # anything printed by mistake goes to stderr, not into the frames
    # The sender thread needs the GIL for a moment after each frame it wrote; by default
    # it would wait up to 5 ms for the reading thread to hand it over.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    sender = _FrameSender(to_parent)
    try:
        _run(json.loads(argv[0]), sender)
    except (KreplayError, OSError, ValueError, KeyError, TypeError) as error:
        sender.close()  # the frames before the failure go first, whole
        write_failure(to_parent, error, "import reader")
        return 1
    stopped = sender.close()
    if stopped is not None:  # the importer went away: nobody is left to tell
        print(f"import reader: {stopped}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
