"""Everything written comes back: every field of operations, sessions and spans."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from recorder.errors import RecordingError
from recorder.storage import (
    CallFrame,
    ObjectRef,
    Operation,
    ReconcileSpan,
    RecordingWriter,
    SessionInfo,
    open_recording,
    runs,
)
from tests.conftest import deployment

STACK = (
    CallFrame("controllers/widget.py", 42, "reconcile"),
    CallFrame("C:/odd:path/framework.py", 7, "dispatch"),
)


def full_operation(seq: int, session_id: str = "s1") -> Operation:
    """An operation with every field set to a non-default value."""
    return Operation(
        session_id=session_id, seq=seq, ts_ns=1_767_000_000_123_456_789 + seq, verb="patch",
        event_type="MODIFIED", api_version="apps/v1", kind="Deployment",
        resource="deployments", subresource="status", namespace="prod", name="web",
        uid="4f9c-uid", resource_version=str(1000 + seq), generation=7,
        patch_type="application/merge-patch+json", request_body=b'{"spec":{"replicas":3}}',
        response_body=deployment("web", 1000 + seq, 3, "prod"), status_code=409,
        error_code=409, error_reason="Conflict", error_message="the object has been modified",
        duration_us=1234, actor="widget-controller", thread="worker-3", span_id=1,
        call_site=STACK,
    )  # fmt: skip


def test_every_operation_field_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    written = [full_operation(1), full_operation(2)]
    expected = [dataclasses.replace(op) for op in written]
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("s1"))
        writer.upsert_spans([ReconcileSpan("s1", 1, "Deployment", start_ns=1)])
        writer.append(written)
    recording = open_recording(str(path))
    for want in expected:
        got = recording.operation("s1", want.seq)
        assert got is not None
        assert recording.body(got.request_ref) == want.request_body
        assert recording.body(got.response_ref) == want.response_body
        assert recording.body_json(got.response_ref)["metadata"]["name"] == "web"
        got.request_ref = got.response_ref = None
        want.request_body = want.response_body = None
        assert got == want
    recording.close()


def test_defaults_and_absent_bodies_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    op = Operation("s1", 0, 5, "watch", event_type="BOOKMARK")
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("s1"))
        result = writer.append([op])
    assert (result.written, result.first_seq, result.last_seq) == (1, 1, 1)
    recording = open_recording(str(path))
    got = recording.operation("s1", 1)
    assert got == Operation("s1", 1, 5, "watch", event_type="BOOKMARK")
    assert recording.body(got.response_ref) is None
    assert recording.body_json(None) is None
    recording.close()


def test_session_metadata_and_summary_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    info = SessionInfo(
        "s1", started_ns=100, operator="widget-operator", cluster="kind-prod",
        server_version="v1.32.1", recorder_version="kreplay 0.1.0",
        labels={"team": "payments", "ticket": "INC-42"},
    )  # fmt: skip
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(info)
        writer.append([full_operation(1), Operation("s1", 0, 50, "get", kind="Pod", actor="gc")])
        writer.add_dropped("s1", 3)
        writer.end_session("s1", ended_ns=999)
    got = open_recording(str(path)).session("s1")
    assert (got.started_ns, got.ended_ns, got.operator, got.cluster) == (
        100, 999, "widget-operator", "kind-prod",
    )  # fmt: skip
    assert (got.server_version, got.recorder_version) == ("v1.32.1", "kreplay 0.1.0")
    assert got.labels == {"team": "payments", "ticket": "INC-42"}
    assert (got.op_count, got.first_seq, got.last_seq, got.dropped_ops) == (2, 1, 2, 3)
    assert (got.first_ts_ns, got.last_ts_ns) == (50, full_operation(1).ts_ns)
    assert got.kinds == {"Deployment": 1, "Pod": 1}
    assert got.actors == {"widget-controller": 1, "gc": 1}
    assert got.verbs == {"patch": 1, "get": 1}
    assert not got.truncated and got.oversize_ops == 0


def test_every_span_field_round_trips_and_ops_set_its_range(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    span = ReconcileSpan(
        "s1", 4, "Deployment", namespace="prod", name="web", actor="widget-controller",
        thread="worker-3", trigger="watch MODIFIED Deployment/prod/web", start_ns=10,
        end_ns=None, error="", external_id="ext-4",
    )  # fmt: skip
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("s1"))
        assert writer.next_span_id("s1") == 1
        writer.upsert_spans([span])
        ops = [Operation("s1", 0, 20 + i, "get", kind="Pod", span_id=4) for i in range(3)]
        writer.append(ops)
        writer.upsert_spans([dataclasses.replace(span, end_ns=90, error="conflict")])
        assert writer.next_span_id("s1") == 5
    recording = open_recording(str(path))
    got = recording.span("s1", 4)
    assert got == dataclasses.replace(span, end_ns=90, error="conflict", start_seq=1, end_seq=3)
    assert list(recording.spans("s1")) == [got]
    assert recording.span("s1", 99) is None


def test_navigation_is_by_index(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    names = ["a", "b", "a", "c", "a", "b"]
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("s1"))
        writer.append(
            [
                Operation(
                    "s1",
                    seq,
                    seq,
                    "get",
                    kind="Pod",
                    namespace="ns",
                    name=name,
                    call_site=STACK if name == "a" else (),
                )
                for seq, name in zip((2, 4, 6, 8, 10, 12), names, strict=True)
            ]
        )
    recording = open_recording(str(path))
    assert (recording.next_seq("s1", 4), recording.prev_seq("s1", 4)) == (6, 2)
    assert recording.next_seq("s1", 12) is None and recording.prev_seq("s1", 2) is None
    assert [op.seq for op in recording.operations("s1", 4, 10)] == [4, 6, 8, 10]
    assert [op.seq for op in recording.operations_reversed("s1")] == [12, 10, 8, 6, 4, 2]
    following = recording.object_neighbor("s1", 2, forward=True)
    assert following is not None and following.seq == 6
    previous = recording.object_neighbor("s1", 12, forward=False)
    assert previous is not None and previous.seq == 4
    assert recording.object_neighbor("s1", 10, forward=True) is None
    a = ObjectRef("Pod", "ns", "a")
    assert [op.seq for op in recording.object_operations("s1", a)] == [2, 6, 10]
    assert [op.seq for op in recording.object_operations("s1", a, 6, reverse=True)] == [6, 2]
    assert sorted(map(str, recording.objects("s1"))) == ["Pod/ns/a", "Pod/ns/b", "Pod/ns/c"]
    assert recording.callsite_files("s1") == ["controllers/widget.py"]
    assert [op.seq for op in recording.callsite_operations("s1", STACK[0].file)] == [2, 6, 10]
    conn = recording.connection  # type: ignore[attr-defined]
    for axis, key_count in ((runs.OBJECT, 1), (runs.CALLSITE, 2), (runs.VERB_KIND, 3)):
        for comparison in (">", "<="):
            sql = runs.run_window_sql(axis, key_count, "seq", comparison, "1")
            plan = " | ".join(
                str(row[3])
                for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", [1] * (key_count + 5))
            )
            assert "SEARCH ops USING PRIMARY KEY (session=? AND seq=?)" in plan
            by = "INDEX object_runs_by_object" if axis is runs.OBJECT else "PRIMARY KEY"
            assert f"SEARCH r USING {by} ({axis.key_columns[0]}=?" in plan
            assert "SCAN ops" not in plan and "TEMP B-TREE" not in plan


def test_sequence_numbers_must_increase(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("s1"))
        writer.append([Operation("s1", 5, 1, "get")])
        with pytest.raises(RecordingError, match="not after 5"):
            writer.append([Operation("s1", 5, 2, "get")])
        assert writer.append([Operation("s1", 0, 3, "get")]).last_seq == 6


def test_labels_are_stored_as_json(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("s1", labels={"k": "v"}))
    recording = open_recording(str(path))
    row = recording.connection.execute("SELECT labels FROM sessions").fetchone()  # type: ignore[attr-defined]
    assert json.loads(row[0]) == {"k": "v"}
