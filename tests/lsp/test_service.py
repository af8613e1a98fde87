"""The recordings service in process: indexing, refresh decisions and hover data."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from kreplay_dap.analysis.model import Finding
from kreplay_dap.lsp.config import ServerConfig, parse_config
from kreplay_dap.lsp.findings import Cancel, analysis_entry
from kreplay_dap.lsp.render import diff_lines
from kreplay_dap.lsp.service import RecordingsService, Tracked
from kreplay_dap.replay.diff import Change
from kreplay_dap.replay.state import ObjectHistory
from recorder.storage import open_recording
from recorder.storage.api import Recording
from tests.lsp.scenario import SESSION, build, source_line

RECORDED = "/app/controllers/widget.py"


def walked_changes(database: Path, seq: int) -> list[Change]:
    """The reference: the diff found by walking the object's history, no index."""
    recording = open_recording(str(database))
    try:
        op = recording.operation(SESSION, seq)
        assert op is not None
        return ObjectHistory(recording, SESSION).changes(op)[1]
    finally:
        recording.close()


def indexed_service(database: Path) -> tuple[RecordingsService, list[str]]:
    problems: list[str] = []
    service = RecordingsService(problems.append, lambda _info: None)
    config = parse_config({"kreplay": {"recordings": [{"database": str(database)}]}})
    asyncio.run(service.configure(config))
    return service, problems


def test_last_write_diff_is_computed_while_indexing(tmp_path: Path) -> None:
    scenario, _ = build(tmp_path, reconciles=8)
    service, problems = indexed_service(scenario.database)
    assert problems == []
    item = service.tracked[0]
    assert item.index is not None
    stats = item.index.files[RECORDED][source_line("patch")]
    # No recording open at all: a hover must not need to walk the object's history.
    service.close()
    detached = Tracked(item.spec, item.index)
    last = service.last_write(detached, stats)
    assert last is not None and last.seq == 42
    assert last.call is not None and (last.call.verb, last.call.status) == ("patch", 200)
    assert "- spec.replicas: 1\n+ spec.replicas: 3" in "\n".join(diff_lines(last.changes))
    assert last.changes == walked_changes(scenario.database, 42)


def test_a_diff_not_computed_in_advance_is_computed_once_and_kept(tmp_path: Path) -> None:
    scenario, _ = build(tmp_path, reconciles=8)
    service, _ = indexed_service(scenario.database)
    item = service.tracked[0]
    assert item.index is not None and item.differ is not None
    stats = item.index.files[RECORDED][source_line("status-seen")]
    stats.last_write_diff = None  # as if beyond the per-scan budget
    first = service.last_write(item, stats)
    assert first is not None and stats.last_write_diff is first.changes
    assert first.changes == walked_changes(scenario.database, stats.last_write_seq or 0)
    assert diff_lines(first.changes) == [
        '- metadata.resourceVersion: "149"',
        '+ metadata.resourceVersion: "150"',
    ]
    item.differ = None  # kept: the second hover reads nothing
    second = service.last_write(item, stats)
    assert second is not None and second.changes == first.changes
    service.close()


WAIT_S = 60.0


class GatedAnalysis:
    """The real analysis, held at its start until the test lets it go."""

    def __init__(self) -> None:
        self.real = analysis_entry()
        self.started = threading.Event()
        self.release = threading.Event()
        self.cancels: list[Cancel] = []

    def __call__(self, recording: Recording, session_id: str, cancel: Cancel) -> list[Finding]:
        self.cancels.append(cancel)
        self.started.set()
        assert self.release.wait(WAIT_S), "the test never released the analysis"
        return self.real(recording, session_id, cancel)


def growing_config(database: Path, delay_ms: int) -> ServerConfig:
    recordings = [{"database": str(database)}]
    return parse_config({"kreplay": {"recordings": recordings, "analysisDelayMs": delay_ms}})


def test_a_newer_refresh_cancels_the_running_analysis(tmp_path: Path) -> None:
    scenario, recorder = build(tmp_path, reconciles=8)
    gate = GatedAnalysis()

    async def drive() -> Tracked:
        service = RecordingsService(lambda _e: None, lambda _i: None, analyze=gate)
        await service.configure(growing_config(scenario.database, 0))
        assert await asyncio.to_thread(gate.started.wait, WAIT_S)
        gate.started.clear()
        recorder.append(2)
        assert [item.index.last_seq for item in await service.refresh() if item.index] == [65]
        assert gate.cancels[0]()  # the running pass is told to stop
        assert await asyncio.to_thread(gate.started.wait, WAIT_S)
        item = service.tracked[0]
        task = item.analysis
        gate.release.set()
        assert task is not None
        await task
        assert len(gate.cancels) == 2 and not gate.cancels[1]()
        service.close()
        return item

    item = asyncio.run(drive())
    assert item.analyzed and item.superseded == 0
    assert [found.short for found in item.findings] == ["conflict #1"]
    assert item.findings[0].finding.last_seq > 52  # the findings cover the new operations


def test_refreshes_in_quick_succession_are_debounced(tmp_path: Path) -> None:
    scenario, recorder = build(tmp_path, reconciles=3)
    gate = GatedAnalysis()
    gate.release.set()

    async def drive() -> None:
        service = RecordingsService(lambda _e: None, lambda _i: None, analyze=gate)
        await service.configure(growing_config(scenario.database, 600_000))
        item = service.tracked[0]
        assert item.analysis is not None
        await item.analysis  # the first index is analysed at once
        assert item.analyzed and len(gate.cancels) == 1
        waits = []
        for _ in range(3):
            recorder.append(1)
            assert await service.refresh() == [item]
            waits.append(item.analysis)
            assert not item.analyzed
        await asyncio.sleep(0)  # let the cancellations land
        assert [wait is not None and wait.cancelled() for wait in waits] == [True, True, False]
        assert len(gate.cancels) == 1  # no analysis ran during the quiet period
        service.close()

    asyncio.run(drive())
