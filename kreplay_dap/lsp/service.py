"""The recordings the server shows: load, index, watch and refresh them.

Concurrency model: asyncio. Blocking reads (indexing, analysis) run through
``asyncio.to_thread`` on a connection of their own and return plain results; only the
event loop mutates ``Tracked`` state, under one lock, so handlers never see half a merge.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field

from kreplay_dap.lsp.config import PathMapper, RecordingSpec, ServerConfig
from kreplay_dap.lsp.findings import PlacedFinding, place_findings
from kreplay_dap.lsp.index import LineStats, SessionDelta, SessionIndex, scan_session
from kreplay_dap.lsp.render import LastWrite, Origin
from kreplay_dap.lsp.writes import WriteDiffer
from recorder.errors import KreplayError
from recorder.storage import Recording, open_recording

log = logging.getLogger(__name__)

Signature = tuple[int, int, int, int, int]


def file_signature(database: str) -> Signature:
    """Inode, modification time and size of the database, and those of its WAL."""
    parts: list[int] = []
    for path in (database, database + "-wal"):
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            parts += [0, 0, 0]
            continue
        parts += [stat.st_ino, stat.st_mtime_ns, stat.st_size]
    return (parts[0], parts[1], parts[2], parts[4], parts[5])


def replaced(before: Signature | None, after: Signature) -> bool:
    """The database file is another one (new inode) or shrank: indexed data may be gone."""
    if before is None:
        return False
    return before[0] != after[0] or after[2] < before[2]


def latest_session(recording: Recording) -> str | None:
    sessions = recording.sessions()
    return sessions[-1].session_id if sessions else None


# What tells one recorded session from another of the same name: id, start, first op time.
SessionKey = tuple[str, int, int | None]


@dataclass(slots=True)
class ScanResult:
    session_id: str | None
    delta: SessionDelta | None
    key: SessionKey | None = None
    rebuilt: bool = False


def scan_recording(spec: RecordingSpec, indexed: SessionKey | None, after_seq: int) -> ScanResult:
    """Blocking: the ops after ``after_seq``, or all of them when the session is another one
    (renamed, restarted under the same name, or shorter than what was indexed)."""
    recording = open_recording(spec.database)
    try:
        wanted = spec.session or latest_session(recording)
        if wanted is None:
            return ScanResult(None, None)
        info = recording.session(wanted)  # raises UnknownSessionError naming those present
        key = (wanted, info.started_ns, info.first_ts_ns)
        shrank = info.last_seq is not None and info.last_seq < after_seq
        same = key == indexed and not shrank
        start = after_seq if same else 0
        delta = scan_session(recording, wanted, start)
        WriteDiffer(recording, wanted).fill_delta(delta)  # hovers then read no history
        return ScanResult(wanted, delta, key, not same)
    finally:
        recording.close()


def find_in_recording(database: str, session_id: str) -> list[PlacedFinding]:
    """Blocking: the session's findings placed on call-site lines."""
    recording = open_recording(database)
    try:
        return place_findings(recording, session_id)
    finally:
        recording.close()


@dataclass(slots=True)
class Tracked:
    """One configured recording as currently indexed."""

    spec: RecordingSpec
    index: SessionIndex | None = None
    findings: list[PlacedFinding] = field(default_factory=list)
    signature: Signature | None = None
    key: SessionKey | None = None
    reader: Recording | None = None
    differ: WriteDiffer | None = None  # over ``reader``, for diffs not computed in advance
    noted_no_call_sites: bool = False
    last_error: str = ""
    analyzed: bool = False

    @property
    def origin(self) -> Origin | None:
        return None if self.index is None else Origin(self.spec.database, self.index.session_id)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader, self.differ = None, None


Notify = Callable[[str], None]


class RecordingsService:
    """Configured recordings, their indexes and findings; see the module docstring."""

    def __init__(
        self, on_error: Notify, on_info: Notify, on_indexed: Callable[[], None] = lambda: None
    ) -> None:
        self.on_error = on_error
        self.on_info = on_info
        self.on_indexed = on_indexed  # lenses are ready; findings may still be computing
        self.config = ServerConfig()
        self.mapper = PathMapper([])
        self.tracked: list[Tracked] = []
        self._lock = asyncio.Lock()

    async def configure(self, config: ServerConfig) -> None:
        """Replace the configuration, reporting every problem, keeping what is valid."""
        async with self._lock:
            for problem in config.problems:
                self.on_error(f"kreplay: {problem}")
            self.config = config
            self.mapper = PathMapper(config.path_mappings)
            kept = {item.spec: item for item in self.tracked}
            self.tracked = [kept.pop(spec, Tracked(spec)) for spec in config.recordings]
            for stale in kept.values():
                stale.close()
            for item in self.tracked:
                await self._refresh(item, force=item.index is None)

    async def refresh(self) -> list[Tracked]:
        """Re-read every recording whose file changed; the ones that got new data."""
        async with self._lock:
            changed = []
            for item in list(self.tracked):
                if await self._refresh(item, force=False):
                    changed.append(item)
            return changed

    async def _refresh(self, item: Tracked, force: bool) -> bool:
        signature = file_signature(item.spec.database)
        if not force and signature == item.signature:
            return False
        if replaced(item.signature, signature):
            item.key = None  # whatever the session is called now, index it from the start
        item.signature = signature
        try:
            return await self._update(item)
        except (KreplayError, sqlite3.Error) as error:
            item.close()
            item.index, item.findings = None, []
            if str(error) != item.last_error:  # once per distinct problem, not per poll
                item.last_error = str(error)
                self.on_error(f"kreplay: {error}")
            return True

    async def _update(self, item: Tracked) -> bool:
        index = item.index
        after = index.last_seq if index is not None and item.key is not None else 0
        result = await asyncio.to_thread(scan_recording, item.spec, item.key, after)
        if result.session_id is None or result.delta is None:
            self.on_info(f"kreplay: {item.spec.database} has no sessions yet; watching it")
            return False
        rebuilt = index is None or result.rebuilt
        if index is None or rebuilt:
            index = SessionIndex(item.spec.database, result.session_id)
            item.findings = []
            item.close()  # the reader may hold the replaced file open
        index.merge(result.delta)
        item.index, item.key = index, result.key
        item.last_error = ""
        if item.reader is None:
            item.reader = open_recording(item.spec.database)
            item.differ = WriteDiffer(item.reader, result.session_id)
        self._note_call_sites(item)
        if not rebuilt and result.delta.operations == 0:
            return False
        item.analyzed = False
        self.on_indexed()
        item.findings = await asyncio.to_thread(
            find_in_recording, item.spec.database, result.session_id
        )
        item.analyzed = True
        return True

    def _note_call_sites(self, item: Tracked) -> None:
        index = item.index
        if index is None or index.has_call_sites or index.operations == 0:
            return
        if not item.noted_no_call_sites:
            item.noted_no_call_sites = True
            self.on_info(
                f"kreplay: session {index.session_id!r} of {item.spec.database} has no call"
                " sites (recorded by the original tool, or without call-site capture):"
                " no lenses for it"
            )

    # -- queries, on the event loop -----------------------------------------------------
    def recorded_paths(self, local_path: str) -> list[str]:
        return self.mapper.to_recorded(local_path)

    def lines_for(self, local_path: str) -> list[tuple[Tracked, dict[int, LineStats]]]:
        paths = self.recorded_paths(local_path)
        found = []
        for item in self.tracked:
            if item.index is not None:
                lines = item.index.lines(paths)
                if lines:
                    found.append((item, lines))
        return found

    def findings_on(self, item: Tracked, local_path: str, line: int) -> list[PlacedFinding]:
        keys = {(path, line) for path in self.recorded_paths(local_path)}
        return [found for found in item.findings if keys & found.first_seq_by_line.keys()]

    def last_write(self, item: Tracked, stats: LineStats) -> LastWrite | None:
        """The most recent successful write from this line and what it changed."""
        seq = stats.last_write_seq
        if seq is None:
            return None
        changes = stats.last_write_diff
        if changes is None and item.differ is not None:
            changes = item.differ.fill(stats)  # beyond the per-scan budget: once, then kept
        call = next((c for c in stats.recent if c.seq == seq), None)
        return LastWrite(call, seq, changes or [])

    def close(self) -> None:
        for item in self.tracked:
            item.close()
