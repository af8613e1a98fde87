"""The diff of each line's most recent write, computed once instead of per hover.

A hover shows what the line's latest successful write changed. Finding the version
before it walks the object's history, so it is done while indexing (in the worker
thread, on the fresh delta) through the object index, and kept on the ``LineStats``.
"""

from __future__ import annotations

import logging

from kreplay_dap.lsp.index import LineStats, SessionDelta
from kreplay_dap.replay.diff import Change
from kreplay_dap.replay.queries import Queries
from kreplay_dap.replay.state import ObjectHistory
from recorder.errors import RecordingError
from recorder.storage.api import Recording

log = logging.getLogger(__name__)

MAX_DIFFS_PER_SCAN = 5000  # more write lines than this are diffed on first hover


class WriteDiffer:
    """Diffs writes of one session, through the object index when the file has one."""

    def __init__(self, recording: Recording, session_id: str) -> None:
        self.recording = recording
        self.session_id = session_id
        self.history = ObjectHistory(recording, session_id, Queries(recording, session_id))

    def changes(self, seq: int) -> list[Change]:
        op = self.recording.operation(self.session_id, seq)
        if op is None:
            return []
        try:
            return self.history.changes(op)[1]
        except RecordingError as error:  # shown as "no field changed", and logged
            log.warning("diff of seq %s failed: %s", seq, error)
            return []

    def fill(self, stats: LineStats) -> list[Change] | None:
        """The diff of ``stats``' latest write, computed now if it is not known yet."""
        if stats.last_write_seq is None:
            return None
        if stats.last_write_diff is None:
            stats.last_write_diff = self.changes(stats.last_write_seq)
        return stats.last_write_diff

    def fill_delta(self, delta: SessionDelta) -> int:
        """Diff the latest write of every line of ``delta`` (bounded); how many were done."""
        done = 0
        for lines in delta.files.values():
            for stats in lines.values():
                if stats.last_write_seq is None or stats.last_write_diff is not None:
                    continue
                if done >= MAX_DIFFS_PER_SCAN:
                    return done
                self.fill(stats)
                done += 1
        return done
