"""The analysis' fast reader gives what the ``Recording`` protocol gives, within its bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from kreplay_dap.analysis import analyze, scan
from kreplay_dap.analysis.rows import ScannedOp
from kreplay_dap.analysis.scan import operations_with_keys
from recorder.storage import open_recording
from recorder.storage.reader import SCAN_COLUMNS, KreplayRecording
from samples.scenarios import Label, Scenario
from tests.analysis.builders import seed_file

Corpus = tuple[Path, dict[str, tuple[Scenario, set[Label]]]]
SCANNED_FIELDS = (
    "seq", "ts_ns", "verb", "event_type", "kind", "subresource", "namespace", "name",
    "resource_version", "request_ref", "response_ref", "status_code", "error_code",
    "error_reason", "error_message", "duration_us", "actor", "span_id",
)  # fmt: skip


def test_scanned_operations_match_the_protocol_field_by_field(corpus: Corpus) -> None:
    path, sessions = corpus
    recording = open_recording(str(path))
    assert isinstance(recording, KreplayRecording)
    try:
        for session in list(sessions)[:16]:
            scanned = list(operations_with_keys(recording, session, max_keys=50))
            plain = list(recording.operations(session))
            assert len(scanned) == len(plain) > 0
            for (op, key), expected in zip(scanned, plain, strict=True):
                assert key == (expected.kind, expected.namespace, expected.name)
                for name in SCANNED_FIELDS:
                    assert getattr(op, name) == getattr(expected, name), (session, op.seq, name)
    finally:
        recording.close()


def test_scanned_fields_are_the_scan_columns_then_the_key() -> None:
    renamed = {"request_blob": "request_ref", "response_blob": "response_ref"}
    columns = [renamed.get(name.strip(), name.strip()) for name in SCAN_COLUMNS.split(",")]
    assert list(ScannedOp._fields) == [*columns, "kind", "namespace", "name"]


def test_other_recordings_are_scanned_through_the_protocol(tmp_path: Path) -> None:
    rows: list[tuple[object, ...]] = [
        (1, 1_700_000_000, "GET", "Secret", "shop", "creds", None, "forbidden", 3),
        (2, 1_700_000_001, "LIST", "Pod", "shop", "", None, None, 2500),
    ]
    recording = open_recording(str(seed_file(tmp_path / "seed.db", rows)))
    try:
        scanned = list(operations_with_keys(recording, "go-1", max_keys=10))
        plain = list(recording.operations("go-1"))
    finally:
        recording.close()
    assert not isinstance(recording, KreplayRecording)
    assert len(scanned) == len(plain) > 0
    for (op, key), expected in zip(scanned, plain, strict=True):
        assert key == (expected.kind, expected.namespace, expected.name)
        for name in SCANNED_FIELDS:
            assert getattr(op, name) == getattr(expected, name), (op.seq, name)


def test_scan_stops_at_the_operation_limit_and_says_so(corpus: Corpus) -> None:
    path, sessions = corpus
    session = next(iter(sessions))  # every scenario session has far more than 7 operations
    recording = open_recording(str(path), max_ops=7)
    assert isinstance(recording, KreplayRecording)
    try:
        seqs = [op.seq for op, _ in operations_with_keys(recording, session, max_keys=10)]
        report = analyze(recording, session)
    finally:
        recording.close()
    assert len(seqs) == 7
    assert seqs == sorted(seqs)
    assert report.total_operations == 7
    assert any("7-operation limit" in event for event in recording.limit_events)


def test_scan_pages_join_up_across_queries_and_at_the_limit(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of 7 rows: every page boundary (and a limit inside a page) loses nothing."""
    path, sessions = corpus
    monkeypatch.setattr(scan, "SCAN_PAGE_ROWS", 7)
    for max_ops, session in zip((10_000, 30), list(sessions)[:2], strict=True):
        recording = open_recording(str(path), max_ops=max_ops)
        assert isinstance(recording, KreplayRecording)
        try:
            pages = list(scan.scan_pages(recording, session))
            noted = list(recording.limit_events)  # before the protocol's own reading
            scanned = [op for op, _ in operations_with_keys(recording, session, max_keys=5)]
            plain = list(recording.operations(session))
        finally:
            recording.close()
        assert len(pages) > 2
        assert all(len(page) == 7 for page in pages[:-1])
        assert [op.seq for op in scanned] == [op.seq for op in plain]
        for op, expected in zip(scanned, plain, strict=True):
            for name in SCANNED_FIELDS:
                assert getattr(op, name) == getattr(expected, name), (session, op.seq, name)
        assert any("30-operation limit" in event for event in noted) == (max_ops == 30)
