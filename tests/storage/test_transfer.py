"""Import and export: lossless for every column of the Go tool, exact for JSON lines."""

from __future__ import annotations

import dataclasses
import gc
import json
import sqlite3
from pathlib import Path

import pytest

from recorder.collector import PASS_GC_THRESHOLD
from recorder.errors import InvalidInputError, NotARecordingError, UnknownSessionError
from recorder.storage import (
    Operation,
    ReconcileSpan,
    RecordingWriter,
    SessionInfo,
    importer,
    open_recording,
)
from recorder.storage.exporter import export_session
from recorder.storage.importer import import_recording
from recorder.storage.seed import V1_OP_COLUMNS
from tests.storage.seedfiles import (
    all_rows,
    v1_rows,
    write_seed_v1,
    write_seed_v1_rows,
    write_seed_v2,
)
from tests.storage.test_roundtrip import full_operation


@pytest.fixture(autouse=True, params=["in process", "helper process"])
def reading_process(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every import here runs both ways: seed rows read in this process or in a helper."""
    helper = request.param == "helper process"
    monkeypatch.setattr(importer.SeedImporter, "_helper_pays", lambda self: helper)


def rows_of(path: Path, table: str, session: str) -> list[dict[str, object]]:
    return [row for row in all_rows(path, table) if row["session_id"] == session]


@pytest.mark.parametrize("interleave", [False, True])
def test_seed_v2_import_then_seed_export_gives_back_every_column(
    tmp_path: Path, interleave: bool
) -> None:
    source = write_seed_v2(tmp_path / "v2.db", {"alpha": 120, "beta": 45}, interleave=interleave)
    database = tmp_path / "ours.db"
    report = import_recording(str(source), str(database), max_ops=1_000_000)
    assert (report.source_format, report.sessions) == ("seed-v2", ["alpha", "beta"])
    assert (report.operations, report.spans, report.over_cap) == (165, 10, 0)
    recording = open_recording(str(database))
    for session in ("alpha", "beta"):
        out = tmp_path / f"{session}.db"
        assert export_session(recording, session, "seed", str(out)) == len(
            rows_of(source, "operations", session)
        )
        assert all_rows(out, "operations") == rows_of(source, "operations", session)
        assert all_rows(out, "reconcile_spans") == rows_of(source, "reconcile_spans", session)


def test_seed_v1_import_then_export_keeps_every_v1_column(tmp_path: Path) -> None:
    source = write_seed_v1(tmp_path / "v1.db", {"old": 60})
    database = tmp_path / "ours.db"
    import_recording(str(source), str(database), max_ops=1_000_000)
    out = tmp_path / "old.db"
    export_session(open_recording(str(database)), "old", "seed", str(out))
    exported = [{c: row[c] for c in V1_OP_COLUMNS} for row in all_rows(out, "operations")]
    assert exported == all_rows(source, "operations")
    assert {row["verb"] for row in all_rows(out, "operations")} == {
        "get",
        "update",
        "watch",
        "list",
    }


def test_imported_seed_data_is_ours(tmp_path: Path) -> None:
    source = write_seed_v2(tmp_path / "v2.db", {"s": 20})
    database = tmp_path / "ours.db"
    import_recording(str(source), str(database), max_ops=1_000_000)
    recording = open_recording(str(database))
    assert recording.flavor == "kreplay"
    info = recording.session("s")
    assert (info.op_count, info.first_seq, info.last_seq) == (20, 1, 20)  # 0-based, shifted
    assert info.labels == {"imported_from": "v2.db", "source_format": "seed-v2"}
    op = recording.operation("s", 7)  # the Go tool's sequence number 6: a conflict
    assert op is not None and (op.verb, op.event_type, op.error_code) == ("watch", "ADDED", 409)
    update = recording.operation("s", 2)
    assert update is not None and (update.verb, update.duration_us) == ("update", 1000)


def test_a_session_recorded_from_timestamp_zero_keeps_its_start(tmp_path: Path) -> None:
    rows = [("z", seq, ts, "GET", "Pod", "ns", "p", "{}", None, 1) for seq, ts in ((1, 0), (2, 3))]
    source = write_seed_v1_rows(tmp_path / "v1.db", rows)
    import_recording(str(source), str(tmp_path / "ours.db"), max_ops=10)
    recording = open_recording(str(tmp_path / "ours.db"))
    try:
        info = recording.session("z")
    finally:
        recording.close()
    assert (info.started_ns, info.first_ts_ns, info.last_ts_ns) == (0, 0, 3 * 10**9)


def our_session(path: Path) -> None:
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(
            SessionInfo("ours", started_ns=5, operator="op", cluster="c", labels={"a": "b"})
        )
        writer.upsert_spans([ReconcileSpan("ours", 1, "Deployment", name="web", start_ns=6)])
        binary = dataclasses.replace(full_operation(3, "ours"), request_body=b"\xff\xfe not utf")
        writer.append([full_operation(1, "ours"), full_operation(2, "ours"), binary])
        writer.append([Operation("ours", 0, 9, "watch", event_type="BOOKMARK")])
        writer.add_dropped("ours", 2)
        writer.end_session("ours", 99)


def test_jsonl_export_import_export_is_identical(tmp_path: Path) -> None:
    our_session(tmp_path / "a.db")
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    export_session(open_recording(str(tmp_path / "a.db")), "ours", "jsonl", str(first))
    report = import_recording(str(first), str(tmp_path / "b.db"), max_ops=100)
    assert (report.source_format, report.operations, report.spans) == ("jsonl", 4, 1)
    export_session(open_recording(str(tmp_path / "b.db")), "ours", "jsonl", str(second))
    assert first.read_text() == second.read_text()
    lines = [json.loads(line) for line in first.read_text().splitlines()]
    assert lines[0]["kreplay"] == "session" and lines[0]["dropped_ops"] == 2
    assert lines[1]["call_site"][0] == "controllers/widget.py:42:reconcile"
    assert "request_body_b64" in lines[3] and lines[-1]["span"] == 1
    a, b = open_recording(str(tmp_path / "a.db")), open_recording(str(tmp_path / "b.db"))
    for left, right in zip(a.operations("ours"), b.operations("ours"), strict=True):
        assert a.body(left.request_ref) == b.body(right.request_ref)
        left.request_ref = left.response_ref = right.request_ref = right.response_ref = None
        assert left == right


def test_seed_through_jsonl_and_back_is_still_lossless(tmp_path: Path) -> None:
    source = write_seed_v2(tmp_path / "v2.db", {"s": 40})
    import_recording(str(source), str(tmp_path / "one.db"), max_ops=1000)
    export_session(
        open_recording(str(tmp_path / "one.db")), "s", "jsonl", str(tmp_path / "s.jsonl")
    )
    import_recording(str(tmp_path / "s.jsonl"), str(tmp_path / "two.db"), max_ops=1000)
    export_session(open_recording(str(tmp_path / "two.db")), "s", "seed", str(tmp_path / "s.db"))
    assert all_rows(tmp_path / "s.db", "operations") == all_rows(source, "operations")
    assert all_rows(tmp_path / "s.db", "reconcile_spans") == all_rows(source, "reconcile_spans")


def test_import_honours_the_operation_limit(tmp_path: Path) -> None:
    source = write_seed_v2(tmp_path / "v2.db", {"a": 30, "b": 8})
    report = import_recording(str(source), str(tmp_path / "ours.db"), max_ops=10)
    assert (report.operations, report.over_cap) == (18, 20)
    recording = open_recording(str(tmp_path / "ours.db"))
    assert recording.session("a").truncated and not recording.session("b").truncated


def test_importing_a_session_twice_is_refused(tmp_path: Path) -> None:
    source = write_seed_v1(tmp_path / "v1.db", {"s": 3})
    import_recording(str(source), str(tmp_path / "ours.db"), max_ops=10)
    with pytest.raises(InvalidInputError, match="session 's' already exists"):
        import_recording(str(source), str(tmp_path / "ours.db"), max_ops=10)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"op": 1, "ts_ns": 1, "verb": "get"}\n', "line 1: expected a session header"),
        ('{"kreplay": "session", "session_id": "s"}\nnot json\n', "line 2: not JSON"),
        ('{"kreplay": "session", "session_id": ""}\n', "'session_id' must be a non-empty"),
        ('{"kreplay": "session", "session_id": "s", "version": 7}\n', "version 7 unknown"),
        ('{"kreplay": "session", "session_id": "s"}\n{"op": "x"}\n', "'op' must be an integer"),
        ('{"kreplay": "session", "session_id": "s"}\n[1]\n', "line 2: expected a JSON object"),
        ('{"kreplay": "session", "session_id": "s"}\n{"what": 1}\n', "neither a session"),
        (
            '{"kreplay": "session", "session_id": "s"}\n{"op": 2, "ts_ns": 1, "verb": "get"}\n'
            '{"op": 2, "ts_ns": 1, "verb": "get"}\n',
            "sequence 2 is not after 2",
        ),
        (
            '{"kreplay": "session", "session_id": "s"}\n'
            '{"op": 1, "ts_ns": 1, "verb": "get", "call_site": ["nope"]}\n',
            "'call_site' frames must be file:line:function",
        ),
        ("\n\n", "no session header line"),
    ],
)
def test_bad_json_lines_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text(text)
    with pytest.raises(InvalidInputError, match=message) as caught:
        import_recording(str(source), str(tmp_path / "ours.db"), max_ops=10)
    assert "\n" not in str(caught.value)


def test_export_refuses_unknown_sessions_and_existing_outputs(tmp_path: Path) -> None:
    our_session(tmp_path / "a.db")
    recording = open_recording(str(tmp_path / "a.db"))
    with pytest.raises(UnknownSessionError, match="sessions in this file: ours"):
        export_session(recording, "theirs", "seed", str(tmp_path / "x.db"))
    (tmp_path / "x.db").write_text("keep me")
    with pytest.raises(InvalidInputError, match="already exists"):
        export_session(recording, "ours", "seed", str(tmp_path / "x.db"))
    assert (tmp_path / "x.db").read_text() == "keep me"


def test_exported_seed_file_is_read_by_the_seed_reader(tmp_path: Path) -> None:
    our_session(tmp_path / "a.db")
    export_session(open_recording(str(tmp_path / "a.db")), "ours", "seed", str(tmp_path / "s.db"))
    seed = open_recording(str(tmp_path / "s.db"))
    assert seed.flavor == "seed-v2"
    op = seed.operation("ours", 1)
    assert op is not None
    assert (op.verb, op.actor, op.uid, op.generation, op.error_code) == (
        "patch", "widget-controller", "4f9c-uid", 7, 409,
    )  # fmt: skip
    assert seed.body_json(op.response_ref)["kind"] == "Deployment"
    assert [span.kind for span in seed.spans("ours")] == ["Deployment"]


def test_odd_sqlite_types_in_a_seed_file_survive_the_round_trip(tmp_path: Path) -> None:
    source = write_seed_v1(tmp_path / "v1.db", {"x": 3})
    conn = sqlite3.connect(source)
    conn.execute("UPDATE operations SET session_id = 42")  # an integer session id
    conn.execute("UPDATE operations SET duration_ms = 2.5 WHERE sequence_number = 2")
    conn.execute("UPDATE operations SET timestamp = 'soon' WHERE sequence_number = 3")
    conn.commit()
    conn.close()
    import_recording(str(source), str(tmp_path / "ours.db"), max_ops=10)
    recording = open_recording(str(tmp_path / "ours.db"))
    assert [info.session_id for info in recording.sessions()] == ["42"]
    export_session(recording, "42", "seed", str(tmp_path / "out.db"))
    rows = all_rows(tmp_path / "out.db", "operations")
    assert [{c: row[c] for c in V1_OP_COLUMNS} for row in rows] == all_rows(source, "operations")
    types = "SELECT typeof(timestamp), typeof(duration_ms) FROM operations ORDER BY sequence_number"
    for path in (source, tmp_path / "out.db"):  # == alone would take 2.0 for 2
        conn = sqlite3.connect(path)
        found = conn.execute(types).fetchall()
        conn.close()
        assert found == [("integer", "integer"), ("integer", "real"), ("text", "integer")]


def test_import_refuses_our_own_files_and_never_writes_into_foreign_ones(tmp_path: Path) -> None:
    our_session(tmp_path / "ours.db")
    with pytest.raises(InvalidInputError, match="already a kreplay recording"):
        import_recording(str(tmp_path / "ours.db"), str(tmp_path / "other.db"), max_ops=10)
    source = write_seed_v1(tmp_path / "v1.db", {"s": 2})
    seed_target = write_seed_v2(tmp_path / "v2.db", {"t": 2})
    before = seed_target.read_bytes()
    with pytest.raises(NotARecordingError, match=r"not a kreplay recording \(tables: operations"):
        import_recording(str(source), str(seed_target), max_ops=10)
    assert seed_target.read_bytes() == before


@pytest.mark.parametrize("enabled_before", [True, False])
def test_import_collects_less_often_and_restores_the_collector(
    tmp_path: Path, enabled_before: bool
) -> None:
    source = write_seed_v2(tmp_path / "v2.db", {"s": 30})
    seen: list[tuple[int, int, int]] = []
    before = gc.get_threshold()
    (gc.enable if enabled_before else gc.disable)()
    try:
        import_recording(
            str(source), str(tmp_path / "ours.db"), max_ops=100,
            progress=lambda done, total: seen.append(gc.get_threshold()),
        )  # fmt: skip
        assert gc.isenabled() is enabled_before
    finally:
        gc.enable()
    assert gc.get_threshold() == before
    assert seen and all(t == (max(before[0], PASS_GC_THRESHOLD), *before[1:]) for t in seen)


def test_a_zero_based_session_over_several_batches_keeps_no_sequence_origins(
    tmp_path: Path,
) -> None:
    count = importer.BATCH + 50
    source = write_seed_v1_rows(tmp_path / "v1.db", v1_rows("z", count, first_seq=0))
    import_recording(str(source), str(tmp_path / "ours.db"), max_ops=count + 1)
    recording = open_recording(str(tmp_path / "ours.db"))
    kept = list(recording.origins("z", "op"))  # type: ignore[attr-defined]
    assert recording.session("z").op_count == count
    assert not [seq for seq, columns in kept if "sequence_number" in columns]
    recording.close()
