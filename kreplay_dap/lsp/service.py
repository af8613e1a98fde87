"""The recordings the server shows: load, index, watch and refresh them.

Concurrency model: asyncio. Blocking reads (indexing, analysis) run through
``asyncio.to_thread`` on a connection of their own and return plain results; only the
event loop mutates ``Tracked`` state (merges under one lock), so handlers never see half
a merge. The whole-session analysis runs outside the lock, one task per recording:
debounced after a refresh, and cancelled (through ``AnalysisOptions.cancel``) when a
newer refresh brings more operations.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from kreplay_dap.lsp.config import PathMapper, RecordingSpec, ServerConfig
from kreplay_dap.lsp.findings import (
    AnalysisCancelled,
    Analyze,
    Cancel,
    PlacedFinding,
    place_findings,
)
from kreplay_dap.lsp.index import LineStats, SessionDelta, SessionIndex, scan_session
from kreplay_dap.lsp.render import LastWrite, Origin
from kreplay_dap.lsp.writes import WriteDiffer
from recorder.errors import KreplayError
from recorder.storage import Recording, open_recording

log = logging.getLogger(__name__)

Signature = tuple[int, int, int, int, int]
# After this many cancels in a row, a running analysis finishes (then one more run
# follows), so a recording that keeps growing still gets findings.
MAX_SUPERSEDED = 3


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


def find_in_recording(
    database: str, session_id: str, cancel: Cancel, analyze: Analyze | None = None
) -> list[PlacedFinding]:
    """Blocking: the session's findings placed on call-site lines."""
    recording = open_recording(database)
    try:
        return place_findings(recording, session_id, analyze, cancel)
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
    analysis: asyncio.Task[None] | None = None  # the debounce wait, then the analysis
    analysis_stop: threading.Event = field(default_factory=threading.Event)
    analysis_running: bool = False  # past the debounce wait
    superseded: int = 0  # running analyses cancelled in a row
    rerun: bool = False  # analyze again when the running one finishes

    @property
    def origin(self) -> Origin | None:
        return None if self.index is None else Origin(self.spec.database, self.index.session_id)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader, self.differ = None, None

    def cancel_analysis(self) -> None:
        self.analysis_stop.set()
        if self.analysis is not None:
            self.analysis.cancel()
        self.analysis, self.analysis_running, self.rerun = None, False, False


Notify = Callable[[str], None]


class RecordingsService:
    """Configured recordings, their indexes and findings; see the module docstring."""

    def __init__(
        self,
        on_error: Notify,
        on_info: Notify,
        on_indexed: Callable[[], None] = lambda: None,
        analyze: Analyze | None = None,  # None: the analysis library's detectors
    ) -> None:
        self.analyze = analyze
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
                stale.cancel_analysis()
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
            item.cancel_analysis()
            item.close()
            item.index, item.findings = None, []
            self._report(item, error)
            return True

    def _report(self, item: Tracked, error: Exception) -> None:
        if str(error) != item.last_error:  # once per distinct problem, not per poll
            item.last_error = str(error)
            self.on_error(f"kreplay: {error}")

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
        self._schedule_analysis(item, 0.0 if rebuilt else self.config.analysis_delay_ms / 1000)
        self.on_indexed()
        return True

    def _schedule_analysis(self, item: Tracked, delay_s: float) -> None:
        """(Re)start the debounce wait; cancel a running analysis (see ``MAX_SUPERSEDED``)."""
        item.analyzed = False
        task = item.analysis
        if task is not None and not task.done():
            if item.analysis_running and item.superseded >= MAX_SUPERSEDED:
                item.rerun = True
                return
            if item.analysis_running:
                item.superseded += 1
            item.cancel_analysis()
        item.analysis_stop = stop = threading.Event()
        item.analysis = asyncio.get_running_loop().create_task(self._analyze(item, stop, delay_s))
        item.analysis.add_done_callback(_log_failure)

    async def _analyze(self, item: Tracked, stop: threading.Event, delay_s: float) -> None:
        """After the quiet period, analyse; once more if refreshes were queued meanwhile."""
        for _ in range(MAX_SUPERSEDED + 2):  # a rerun is queued at most once per pass
            if delay_s > 0:
                await asyncio.sleep(delay_s)  # the debounce: a newer refresh cancels this wait
            if not await self._analyze_once(item, stop) or not item.rerun:
                return
            item.rerun = False
            delay_s = self.config.analysis_delay_ms / 1000
        log.warning("analysis of %s kept being re-queued", item.spec.database)

    async def _analyze_once(self, item: Tracked, stop: threading.Event) -> bool:
        """One analysis pass; False when it was superseded."""
        index = item.index
        if index is None or stop.is_set():
            return False
        item.analysis_running = True
        try:
            findings = await asyncio.to_thread(
                find_in_recording, item.spec.database, index.session_id, stop.is_set, self.analyze
            )
        except AnalysisCancelled:
            return False
        except (KreplayError, sqlite3.Error) as error:
            self._report(item, error)
            findings = []
        finally:
            if item.analysis_stop is stop:  # not yet superseded by a newer run
                item.analysis_running = False
        if stop.is_set() or item.index is not index:
            return False
        item.findings, item.superseded = findings, 0
        item.analyzed = not item.rerun
        self.on_indexed()
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
            item.cancel_analysis()
            item.close()


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("analysis task failed", exc_info=task.exception())
