"""The analysis' fast reader gives what the ``Recording`` protocol gives, within its bounds."""

from __future__ import annotations

from pathlib import Path

from kreplay_dap.analysis import analyze
from kreplay_dap.analysis.scan import operations_with_keys
from recorder.storage import open_recording
from recorder.storage.reader import KreplayRecording
from samples.scenarios import Label, Scenario

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
