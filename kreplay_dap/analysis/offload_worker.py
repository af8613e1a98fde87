"""The analysis' reading process: ``python -m kreplay_dap.analysis.offload_worker ARGS``.

It opens the recording read-only, scans the session in pages, sends each page to the
analysis (``frames.PAGE``) and runs the side detectors (``side.py``) on the operations the
analysis has acknowledged (``ACK``, one per page it has fully handed to its detectors).
``STOP n`` says the analysis processed exactly n operations: the side detectors get the
unacknowledged rest up to n, and their results go back in one ``RESULT`` frame. It stays
at most ``LOOKAHEAD`` pages ahead of the analysis (bounded memory). Any error becomes a
``FAILED`` frame with the exception's class name and message.
"""

from __future__ import annotations

import itertools
import json
import marshal
import os
import pickle
import sys
from collections import deque
from collections.abc import Iterator
from typing import Any

from kreplay_dap.analysis import frames
from kreplay_dap.analysis.rows import ScannedOp
from kreplay_dap.analysis.scan import keyed_pages
from kreplay_dap.analysis.side import SideDetectors, SideSettings
from kreplay_dap.analysis.world import Key
from recorder.collector import fewer_collections
from recorder.errors import KreplayError, RecordingError
from recorder.frames import read_frame, write_failure, write_frame
from recorder.storage import open_recording
from recorder.storage.reader import KreplayRecording

LOOKAHEAD = 10  # pages; the pipe holds about 11 (offload.PIPE_BYTES)
Page = tuple[list[tuple[Any, ...]], list[Key]]


def _pages(recording: KreplayRecording, session_id: str, max_keys: int) -> Iterator[Page]:
    """Rows with their object's key fields appended (19 fields, ``ScannedOp``'s order) and
    the keys; repeated strings are one object each, so marshal sends them once a page."""
    for page, page_keys, shared in keyed_pages(recording, session_id, max_keys):
        share = shared.setdefault
        rows = [
            (seq, ts, share(verb, verb), share(event, event), share(sub, sub), rv, request,
             response, status, code, share(reason, reason), message, duration,
             share(actor, actor), span, object_id, *key)
            for (seq, ts, verb, event, sub, rv, request, response, status, code, reason, message,
                 duration, actor, span, object_id), key in zip(page, page_keys, strict=True)
        ]  # fmt: skip
        yield rows, page_keys


def _operations(page: Page, limit: int) -> Iterator[tuple[ScannedOp, Key]]:
    rows, keys = page
    ops = map(tuple.__new__, itertools.repeat(ScannedOp), rows)
    return itertools.islice(zip(ops, keys, strict=True), limit)


class _Worker:
    def __init__(self, side: SideDetectors, to_parent: int, from_parent: int) -> None:
        self.side = side
        self.out = to_parent
        self.inp = from_parent
        self.unfed: deque[Page] = deque()
        self.fed = 0
        self.stopped_at: int | None = None

    def handle_one(self) -> None:
        """Reads one frame from the analysis: an acknowledged page is fed to the side
        detectors; ``STOP n`` feeds the rest up to n and ends the pass."""
        try:
            kind, payload = read_frame(self.inp)
        except EOFError:
            raise RecordingError("the analysis went away before the end") from None
        if kind == frames.ACK and self.unfed:
            self._feed(self.unfed.popleft(), 1 << 62)
        elif kind == frames.STOP:
            (total,) = frames.COUNT.unpack(payload)
            if total < self.fed:
                raise RecordingError(f"asked to stop at {total} operations after {self.fed}")
            for _ in range(len(self.unfed)):
                self._feed(self.unfed.popleft(), total - self.fed)
            self.stopped_at = total
        else:
            raise RecordingError(f"unexpected frame {kind} from the analysis")

    def _feed(self, page: Page, limit: int) -> None:
        before = self.fed
        self.side.feed(_operations(page, limit))
        self.fed = before + min(limit, len(page[0]))


def _run(args: dict[str, Any], to_parent: int, from_parent: int) -> None:
    # One pass: no memory map, which would count every page of the file in this RSS.
    recording = open_recording(args["path"], max_ops=int(args["max_ops"]), memory_map=False)
    if not isinstance(recording, KreplayRecording):
        raise RecordingError(f"{args['path']}: not a kreplay recording")
    settings = SideSettings(**args["settings"])
    worker = _Worker(SideDetectors(recording, settings), to_parent, from_parent)
    with fewer_collections():
        for page in _pages(recording, args["session"], settings.max_objects):
            write_frame(to_parent, frames.PAGE, marshal.dumps(page))
            worker.unfed.append(page)
            for _ in range(len(worker.unfed)):
                if len(worker.unfed) <= LOOKAHEAD or worker.stopped_at is not None:
                    break
                worker.handle_one()
            if worker.stopped_at is not None:
                break
        if worker.stopped_at is None:
            write_frame(to_parent, frames.END, marshal.dumps(recording.limit_events))
        for _ in range(LOOKAHEAD + 2):
            if worker.stopped_at is not None:
                break
            worker.handle_one()
        if worker.stopped_at is None:
            raise RecordingError("the analysis did not say where it stopped")
        results = worker.side.results()
    write_frame(to_parent, frames.RESULT, pickle.dumps((results, recording.limit_events)))


def main(argv: list[str]) -> int:
    to_parent = os.dup(1)
    os.dup2(2, 1)  # anything printed by mistake goes to stderr, not into the frames
    try:
        _run(json.loads(argv[0]), to_parent, 0)
    except (KreplayError, OSError, ValueError, KeyError, TypeError) as error:
        write_failure(to_parent, error, "analysis reader")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
