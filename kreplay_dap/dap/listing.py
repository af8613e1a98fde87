"""The session listing (one line per operation), built once and streamed on each request.

A million-operation listing is tens of megabytes: building it as one string per request
(then its JSON, then the frame) would hold several copies at once. Instead the first
request writes the listing, already escaped as JSON string content, to an anonymous
temporary file; every ``source`` response streams that file in chunks (see
``Output.response``), so memory stays flat and the current line always exists.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterator

from kreplay_dap.dap.dispatch import StreamedText
from kreplay_dap.dap.present import listing_line
from recorder.errors import LimitExceededError
from recorder.storage.api import Recording
from recorder.storage.model import Operation

MAX_LISTING_LINES = 1_000_000  # the adapter's op limit
MAX_LISTING_BYTES = 1 << 30
_PAGE = 10_000
_COLUMNS = "seq, verb, event_type, api_version, kind, namespace, name, subresource,"
_COLUMNS += " status_code, error_code, error_reason, actor, thread"


class Listing:
    """The listing of one session; ``text()`` builds it on first use."""

    def __init__(self, recording: Recording, session_id: str, first_seq: int) -> None:
        self.recording = recording
        self.session_id = session_id
        self.first_seq = first_seq
        self._text: StreamedText | None = None

    def text(self) -> StreamedText:
        if self._text is None:
            self._text = self._build()
        return self._text

    def close(self) -> None:
        if self._text is not None:
            self._text.file.close()

    def _build(self) -> StreamedText:
        file = tempfile.TemporaryFile()  # noqa: SIM115 - kept open, streamed on each request
        size, line = 0, 0
        for op in self._operations():
            if line >= MAX_LISTING_LINES:
                break
            target = op.seq - self.first_seq  # gaps become empty lines
            parts = ["\\n"] * max(min(target, MAX_LISTING_LINES) - line, 0)
            parts.append(json.dumps(listing_line(op), ensure_ascii=False)[1:-1] + "\\n")
            data = "".join(parts).encode("utf-8")
            size += len(data)
            if size > MAX_LISTING_BYTES:
                file.close()
                raise LimitExceededError(f"the listing exceeds {MAX_LISTING_BYTES} bytes")
            file.write(data)
            line = target + 1
        return StreamedText(file, size)

    def _operations(self) -> Iterator[Operation]:
        conn = getattr(self.recording, "connection", None)
        if self.recording.flavor == "kreplay" and isinstance(conn, sqlite3.Connection):
            return _listing_rows(conn, self.session_id)
        return self.recording.operations(self.session_id)


def _listing_rows(conn: sqlite3.Connection, session_id: str) -> Iterator[Operation]:
    """Only the columns a listing line shows, paged by seq (no bodies, no call sites)."""
    sql = (
        f"SELECT {_COLUMNS} FROM ops WHERE session = (SELECT id FROM sessions WHERE"
        f" session_id = ?) AND seq > ? ORDER BY seq LIMIT {_PAGE}"
    )
    after = -1
    for _ in range(MAX_LISTING_LINES // _PAGE + 2):
        rows = conn.execute(sql, (session_id, after)).fetchall()
        for row in rows:
            op = Operation(session_id, row[0], 0, row[1], event_type=row[2], api_version=row[3])
            op.kind, op.namespace, op.name, op.subresource = row[4], row[5], row[6], row[7]
            op.status_code, op.error_code, op.error_reason = row[8], row[9], row[10]
            op.actor, op.thread = row[11], row[12]
            yield op
        if len(rows) < _PAGE:
            return
        after = int(rows[-1][0])
