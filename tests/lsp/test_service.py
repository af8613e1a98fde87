"""The recordings service in process: indexing, refresh decisions and hover data."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kreplay_dap.lsp.config import parse_config
from kreplay_dap.lsp.render import diff_lines
from kreplay_dap.lsp.service import RecordingsService, Tracked
from kreplay_dap.replay.diff import Change
from kreplay_dap.replay.state import ObjectHistory
from recorder.storage import open_recording
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
