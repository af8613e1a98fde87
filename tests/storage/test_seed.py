"""The Go tool's two schemas are read directly, read-only, through the same protocol."""

from __future__ import annotations

from pathlib import Path

from recorder.storage import ObjectRef, open_recording
from recorder.storage.exporter import export_session
from recorder.storage.importer import import_recording
from tests.storage.seedfiles import (
    T0,
    all_rows,
    v1_rows,
    write_seed_v1,
    write_seed_v1_rows,
    write_seed_v2,
)


def test_seed_v1_reads_without_conversion(tmp_path: Path) -> None:
    path = write_seed_v1(tmp_path / "v1.db", {"prod-001": 14, "prod-002": 3})
    recording = open_recording(str(path))
    assert recording.flavor == "seed-v1"
    infos = {info.session_id: info for info in recording.sessions()}
    assert sorted(infos) == ["prod-001", "prod-002"]
    info = infos["prod-001"]
    assert (info.op_count, info.first_seq, info.last_seq) == (14, 1, 14)
    assert (info.first_ts_ns, info.last_ts_ns) == (T0 * 10**9, (T0 + 13) * 10**9)
    assert info.verbs == {"get": 4, "update": 4, "watch": 3, "list": 3}
    assert info.kinds == {"Pod": 14}
    first = recording.operation("prod-001", 1)
    assert first is not None
    assert (first.verb, first.kind, first.namespace, first.name) == (
        "get",
        "Pod",
        "default",
        "web-0",
    )
    assert (first.ts_ns, first.duration_us) == (T0 * 10**9, 0)
    assert recording.body_json(first.response_ref)["metadata"]["resourceVersion"] == "100"
    conflict = recording.operation("prod-001", 7)
    assert conflict is not None
    assert (conflict.error_code, conflict.is_error) == (409, True)
    assert conflict.error_message == "Operation cannot be fulfilled: conflict"
    assert recording.body(conflict.response_ref) is None
    assert list(recording.spans("prod-001")) == []


def test_seed_v2_reads_actor_identity_and_spans(tmp_path: Path) -> None:
    path = write_seed_v2(tmp_path / "v2.db", {"s": 30})
    recording = open_recording(str(path))
    assert recording.flavor == "seed-v2"
    op = recording.operation("s", 3)
    assert op is not None
    assert (op.actor, op.uid, op.resource_version, op.generation) == (
        "controller-1", "uid-web-0", "103", 1,
    )  # fmt: skip
    assert op.duration_us == 3000
    assert recording.operation("s", 4) is not None
    assert recording.operation("s", 4).generation is None  # type: ignore[union-attr]
    info = recording.session("s")
    assert (info.first_seq, info.last_seq, info.op_count) == (0, 29, 30)
    assert sum(info.actors.values()) == 30 and info.actors[""] == 2
    spans = list(recording.spans("s"))
    assert [span.external_id for span in spans] == [f"s-span-{i}" for i in range(5)]
    assert spans[0].start_ns == T0 * 10**9 and spans[0].end_ns == T0 * 10**9 + 250 * 10**6
    assert spans[-1].end_ns is None and spans[3].error == "boom"
    assert spans[0].trigger == "watch MODIFIED"


def test_seed_navigation_by_object(tmp_path: Path) -> None:
    path = write_seed_v2(tmp_path / "v2.db", {"s": 12})
    recording = open_recording(str(path))
    web0 = ObjectRef("Pod", "default", "web-0")
    assert [op.seq for op in recording.object_operations("s", web0)] == [0, 3, 6, 9]
    following = recording.object_neighbor("s", 3, forward=True)
    assert following is not None and following.seq == 6
    assert (recording.next_seq("s", 5), recording.prev_seq("s", 5)) == (6, 4)
    assert [op.seq for op in recording.operations_reversed("s", 8, 10)] == [10, 9, 8]
    assert {str(ref) for ref in recording.objects("s")} >= {"Pod/default/web-0"}


def test_a_session_with_repeated_sequence_numbers_shows_every_operation(tmp_path: Path) -> None:
    rows = v1_rows("dup", 6)
    numbers = [1, 2, 2, 3, 3, 4]  # the Go tool wrote 2 and 3 twice
    rows = [(row[0], number, *row[2:]) for row, number in zip(rows, numbers, strict=True)]
    path = write_seed_v1_rows(tmp_path / "v1.db", rows + v1_rows("clean", 3))
    recording = open_recording(str(path))
    walked = list(recording.operations("dup"))
    assert len(walked) == 6 and len({op.seq for op in walked}) == 6
    assert [op.name for op in walked] == [row[6] for row in rows]
    stepped, seq = [], walked[0].seq
    for _ in range(10):
        stepped.append(seq)
        following = recording.next_seq("dup", seq)
        if following is None:
            break
        seq = following
    assert stepped == [op.seq for op in walked]
    for op in walked:
        found = recording.operation("dup", op.seq)
        assert found is not None and (found.seq, found.name) == (op.seq, op.name)
    info = recording.session("dup")
    assert (info.op_count, info.first_seq, info.last_seq) == (6, walked[0].seq, walked[-1].seq)
    web = ObjectRef("Pod", "default", "web-1")
    assert [op.seq for op in recording.object_operations("dup", web)] == [
        op.seq for op in walked if op.name == "web-1"
    ]
    # A session without repeats keeps the Go tool's own numbers.
    assert [op.seq for op in recording.operations("clean")] == [1, 2, 3]


def test_a_session_with_repeated_numbers_exports_the_go_tools_own_numbers(
    tmp_path: Path,
) -> None:
    rows = v1_rows("dup", 6)
    numbers = [1, 2, 2, 3, 3, 4]
    rows = [(row[0], number, *row[2:]) for row, number in zip(rows, numbers, strict=True)]
    path = write_seed_v1_rows(tmp_path / "v1.db", v1_rows("clean", 3) + rows)
    recording = open_recording(str(path))
    export_session(recording, "dup", "seed", str(tmp_path / "out.db"))
    exported = all_rows(tmp_path / "out.db", "operations")
    assert [row["sequence_number"] for row in exported] == numbers
    assert [row["name"] for row in exported] == [row[6] for row in rows]
    export_session(recording, "dup", "jsonl", str(tmp_path / "dup.jsonl"))
    import_recording(str(tmp_path / "dup.jsonl"), str(tmp_path / "ours.db"), max_ops=100)
    ours = open_recording(str(tmp_path / "ours.db"))
    export_session(ours, "dup", "seed", str(tmp_path / "again.db"))
    again = all_rows(tmp_path / "again.db", "operations")
    assert [row["sequence_number"] for row in again] == numbers
    # A clean session has nothing to restore.
    assert list(recording.origins("clean", "op")) == []  # type: ignore[attr-defined]
