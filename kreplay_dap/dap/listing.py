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
import threading
from collections.abc import Iterator
from typing import IO

from kreplay_dap.dap.dispatch import StreamedText
from kreplay_dap.dap.present import listing_line
from recorder.errors import LimitExceededError, RecordingError
from recorder.storage.api import Recording
from recorder.storage.connection import open_read_only

MAX_LISTING_LINES = 1_000_000  # the adapter's op limit
MAX_LISTING_BYTES = 1 << 30
_PAGE = 10_000
_WRITE_PARTS = 30_000  # strings joined per write


class Listing:
    """The listing of one session; ``text()`` builds it on first use.

    A kreplay file's listing can be built aside (on the adapter's worker thread, with its own
    read-only connection); concurrent ``text()`` calls wait for the one build. ``close`` (a
    restart) makes a build in progress stop at its next page."""

    def __init__(self, recording: Recording, session_id: str, first_seq: int) -> None:
        self.recording = recording
        self.session_id = session_id
        self.first_seq = first_seq
        self._text: StreamedText | None = None
        self._lock = threading.Lock()
        self._discarded = False

    @property
    def ready(self) -> bool:
        return self._text is not None

    @property
    def can_build_aside(self) -> bool:
        return self._own_connection_path() is not None

    def text(self) -> StreamedText:
        with self._lock:
            if self._text is None:
                self._text = self._build()
            return self._text

    def close(self) -> None:
        self._discarded = True
        if self._lock.acquire(blocking=False):  # else the build closes its own file
            try:
                if self._text is not None:
                    self._text.file.close()
            finally:
                self._lock.release()

    def _build(self) -> StreamedText:
        file = tempfile.TemporaryFile()  # noqa: SIM115 - kept open, streamed on each request
        try:
            return self._fill(file)
        except BaseException:
            file.close()
            raise

    def _fill(self, file: IO[bytes]) -> StreamedText:
        size, line = 0, 0
        parts: list[str] = []
        for seq, escaped in self._lines():
            if line >= MAX_LISTING_LINES:
                break
            target = seq - self.first_seq  # gaps become empty lines
            if target > line:
                parts.append("\\n" * (min(target, MAX_LISTING_LINES) - line))
            parts.append(escaped)
            parts.append("\\n")
            line = target + 1
            if len(parts) >= _WRITE_PARTS:
                if self._discarded:
                    raise RecordingError("the listing was discarded (the session restarted)")
                size = _write(file, parts, size)
        return StreamedText(file, _write(file, parts, size))

    def _own_connection_path(self) -> str | None:
        """The file to open a second connection on: kreplay files only (the SQL below)."""
        path = getattr(self.recording, "path", None)
        if self.recording.flavor != "kreplay" or not isinstance(path, str):
            return None
        return path

    def _lines(self) -> Iterator[tuple[int, str]]:
        """(seq, the line escaped as JSON string content), in seq order."""
        path = self._own_connection_path()
        if path is not None:
            return _listing_rows(path, self.session_id)
        return (
            (op.seq, json.dumps(listing_line(op), ensure_ascii=False)[1:-1])
            for op in self.recording.operations(self.session_id)
        )


def _write(file: IO[bytes], parts: list[str], size: int) -> int:
    """Write and clear ``parts``; the listing's size so far."""
    data = "".join(parts).encode("utf-8")
    parts.clear()
    if size + len(data) > MAX_LISTING_BYTES:
        file.close()
        raise LimitExceededError(f"the listing exceeds {MAX_LISTING_BYTES} bytes")
    file.write(data)
    return size + len(data)


# ``present.listing_line`` written in SQL and JSON-escaped by SQLite: at a million
# operations this is several times faster than formatting each line in Python.
# tests/dap/test_listing.py checks that both give the same lines.
_TARGET = (
    "trim(kind || ' ' || CASE WHEN namespace != '' THEN namespace || '/' || name ELSE name END,"
    " ' ' || char(9, 10, 11, 12, 13))"
)
_LINE = (
    "'#' || seq || ' ' || CASE WHEN event_type = '' THEN upper(verb)"
    " ELSE 'WATCH ' || event_type END || ' ' || api_version || ' ' || " + _TARGET + " ||"
    " CASE WHEN subresource != '' THEN '/' || subresource ELSE '' END || ' -> ' ||"
    " CASE WHEN error_code != 0 THEN CAST(error_code AS TEXT)"
    " WHEN status_code != 0 THEN CAST(status_code AS TEXT) ELSE '-' END ||"
    " CASE WHEN error_reason != '' THEN ' ' || error_reason ELSE '' END || ' [' ||"
    " CASE WHEN thread != '' THEN actor || '/' || thread ELSE actor END || ']'"
)


def _listing_rows(path: str, session_id: str) -> Iterator[tuple[int, str]]:
    """The lines, built and escaped by SQLite, paged by seq (no bodies, no call sites), read
    through a connection of their own: the build may run beside the adapter's main thread."""
    # One pass in seq order: a memory map would only add the file's pages to the
    # adapter's resident size (1M ops: peak RSS 203 MB with it, see bench/dap.py).
    conn = open_read_only(path, memory_map=False)
    try:
        yield from _paged_lines(conn, session_id)
    finally:
        conn.close()


def _paged_lines(conn: sqlite3.Connection, session_id: str) -> Iterator[tuple[int, str]]:
    sql = (
        f"SELECT seq, json_quote({_LINE}) FROM ops WHERE session = (SELECT id FROM sessions"
        f" WHERE session_id = ?) AND seq > ? ORDER BY seq LIMIT {_PAGE}"
    )
    after = -1
    for _ in range(MAX_LISTING_LINES // _PAGE + 2):
        rows = conn.execute(sql, (session_id, after)).fetchall()
        for seq, quoted in rows:
            yield int(seq), str(quoted)[1:-1]
        if len(rows) < _PAGE:
            return
        after = int(rows[-1][0])
