"""Unit tier: the index, configuration, findings placement and rendering, no server."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kreplay_dap.analysis.model import Finding
from kreplay_dap.lsp.config import PathMapper, RecordingSpec, parse_config
from kreplay_dap.lsp.findings import PlacedFinding, index_loop_findings, place_findings
from kreplay_dap.lsp.index import SessionIndex, scan_operations, scan_session
from kreplay_dap.lsp.render import Origin, diagnostics, lens_title, replay_action
from kreplay_dap.lsp.service import scan_recording
from recorder.storage import Operation, RecordingWriter, SessionInfo, open_recording
from tests.lsp.scenario import SESSION, ReconcileRecorder, build, source_line

RECORDED = "/app/controllers/widget.py"


def full_index(database: Path) -> SessionIndex:
    recording = open_recording(str(database))
    try:
        index = SessionIndex(str(database), SESSION)
        index.merge(scan_session(recording, SESSION, 0))
        return index
    finally:
        recording.close()


def test_lines_and_counts_match_what_each_line_called(tmp_path: Path) -> None:
    scenario, _ = build(tmp_path, reconciles=8)
    index = full_index(scenario.database)
    lines = index.files[RECORDED]
    assert sorted(lines) == sorted(source_line(marker) for marker in scenario.counts)
    patch = lines[source_line("patch")]
    assert patch.calls == 8
    assert patch.errors == scenario.errors["patch"] == 4
    assert dict(patch.by_call) == {("patch", "Deployment"): 8}
    assert patch.first_seq == 3
    assert [call.seq for call in patch.recent] == [22, 29, 35, 42, 48]  # the last five
    assert [call.status for call in patch.recent] == [409, 200, 409, 200, 409]
    assert patch.last_write_seq == 42  # the last successful one
    # 52 ops: 8 watch events come from the informer, without an operator call site
    assert (index.operations, index.with_call_site) == (52, 44)


def test_sql_path_and_protocol_path_agree(tmp_path: Path) -> None:
    scenario, _ = build(tmp_path, reconciles=6)
    recording = open_recording(str(scenario.database))
    try:
        fast = scan_session(recording, SESSION, 0)
        slow = scan_operations(recording.operations(SESSION), 0)
    finally:
        recording.close()
    assert fast.last_seq == slow.last_seq == 39
    for line, stats in slow.files[RECORDED].items():
        other = fast.files[RECORDED][line]
        assert (other.calls, other.errors, other.first_seq, other.last_write_seq) == (
            stats.calls, stats.errors, stats.first_seq, stats.last_write_seq,
        )  # fmt: skip
        assert other.by_call == stats.by_call
        assert [c.seq for c in other.recent] == [c.seq for c in stats.recent]


def test_incremental_refresh_reads_only_new_ops_and_equals_a_rebuild(tmp_path: Path) -> None:
    scenario, recorder = build(tmp_path, reconciles=4)
    index = full_index(scenario.database)
    assert index.last_seq == 26
    recorder.append(3)
    recording = open_recording(str(scenario.database))
    try:
        delta = scan_session(recording, SESSION, index.last_seq)
    finally:
        recording.close()
    assert (delta.after_seq, delta.last_seq, delta.operations) == (26, 45, 19)
    index.merge(delta)
    rebuilt = full_index(scenario.database)
    for line, stats in rebuilt.files[RECORDED].items():
        merged = index.files[RECORDED][line]
        assert (merged.calls, merged.errors, merged.first_seq, merged.last_seq) == (
            stats.calls, stats.errors, stats.first_seq, stats.last_seq,
        )  # fmt: skip
        assert [c.seq for c in merged.recent] == [c.seq for c in stats.recent]


def test_operations_without_call_sites_give_no_lines(tmp_path: Path) -> None:
    database = tmp_path / "plain.db"
    with RecordingWriter(str(database)) as writer:
        writer.begin_session(SessionInfo("s"))
        writer.append([Operation("s", 0, i, "get", kind="Pod", name=f"p{i}") for i in range(5)])
    recording = open_recording(str(database))
    try:
        delta = scan_session(recording, "s", 0)
    finally:
        recording.close()
    index = SessionIndex(str(database), "s")
    index.merge(delta)
    assert index.files == {} and index.operations == 5 and not index.has_call_sites


def test_seed_recording_is_scanned_through_the_protocol(tmp_path: Path) -> None:
    database = tmp_path / "seed.db"
    conn = sqlite3.connect(database)
    conn.execute(
        "CREATE TABLE operations (id INTEGER PRIMARY KEY, session_id TEXT, sequence_number"
        " INTEGER, timestamp INTEGER, operation_type TEXT, resource_kind TEXT, namespace TEXT,"
        " name TEXT, resource_data TEXT, error TEXT, duration_ms INTEGER)"
    )
    conn.executemany(
        "INSERT INTO operations VALUES (NULL, 'old', ?, 1700000000, 'GET', 'Pod', 'ns', 'p',"
        " '{}', '', 3)",
        [(seq,) for seq in range(1, 4)],
    )
    conn.commit()
    conn.close()
    recording = open_recording(str(database))
    try:
        assert recording.flavor == "seed-v1"
        delta = scan_session(recording, "old", 0)
    finally:
        recording.close()
    assert (delta.operations, delta.without_call_site, delta.files) == (3, 3, {})


def test_path_mapper_translates_both_ways() -> None:
    config = parse_config(
        {"kreplay": {"pathMappings": [
            {"localRoot": "/home/me/op", "remoteRoot": "/app"},
            {"localRoot": "/home/me/lib", "remoteRoot": "/app/vendor/lib"},
        ]}}
    )  # fmt: skip
    mapper = PathMapper(config.path_mappings)
    assert mapper.to_local("/app/controllers/w.py") == "/home/me/op/controllers/w.py"
    assert mapper.to_local("/app/vendor/lib/x.py") == "/home/me/lib/x.py"
    assert mapper.to_local("/elsewhere/y.py") == "/elsewhere/y.py"
    assert mapper.to_local("/application/z.py") == "/application/z.py"
    assert "/app/controllers/w.py" in mapper.to_recorded("/home/me/op/controllers/w.py")


def test_malformed_configuration_keeps_the_valid_entries(tmp_path: Path) -> None:
    config = parse_config(
        {"recordings": [{"session": "x"}, {"database": "rec.db"}, "nonsense",
                        {"database": "b.db", "session": 3}],
         "pathMappings": [{"localRoot": "/x"}], "pollIntervalMs": 0},
        base_dir=str(tmp_path),
    )  # fmt: skip
    assert [spec.database for spec in config.recordings] == [str(tmp_path / "rec.db")]
    assert config.path_mappings == []
    assert len(config.problems) == 5
    assert any("'database'" in problem for problem in config.problems)


def test_findings_land_on_their_evidence_lines_with_related_lines(tmp_path: Path) -> None:
    scenario, _ = build(tmp_path, reconciles=8)
    recording = open_recording(str(scenario.database))
    try:
        placed = place_findings(recording, SESSION, index_loop_findings)
    finally:
        recording.close()
    assert [item.short for item in placed] == ["loop #1"]
    ready, seen = source_line("status-ready"), source_line("status-seen")
    assert placed[0].first_seq_by_line == {(RECORDED, ready): 4, (RECORDED, seen): 5}
    found = diagnostics(Origin("db", SESSION), [RECORDED], placed, lambda path: "file://" + path)
    by_line = {d.range.start.line + 1: d for d in found}
    assert sorted(by_line) == [ready, seen]
    # The detector's text already names the finding: the prefix appears once.
    message = "reconcile loop: patch Widget default/w1 repeated 16\u00d7 (period 1 ops, 0 s)"
    assert by_line[ready].message == by_line[seen].message == message
    related = by_line[ready].related_information or []
    assert [(r.location.uri, r.location.range.start.line + 1) for r in related] == [
        ("file://" + RECORDED, seen)
    ]
    action = replay_action(by_line[ready])
    assert action is not None and action.command is not None
    assert action.command.arguments == ["db", SESSION, 4]
    assert diagnostics(Origin("db", SESSION), ["/other.py"], placed, str) == []


def test_lens_title_shape(tmp_path: Path) -> None:
    scenario, _ = build(tmp_path, reconciles=8)
    index = full_index(scenario.database)
    title = lens_title(index.files[RECORDED][source_line("patch")], [])
    assert title == "8 calls (patch Deployment \u00d78) \u00b7 4 errors \u2014 Replay from here"


def test_finding_message_names_the_finding_once() -> None:
    def placed(kind: str, description: str) -> PlacedFinding:
        return PlacedFinding(Finding(kind, ["Widget/default/w1"], 1, 9, 3, description, [1]), 1)

    assert placed("loop", "reconcile loop: wrote w1 5x").message == "reconcile loop: wrote w1 5x"
    assert placed("lost-update", "lost update: reverted x").message == (
        "race (lost update): reverted x"
    )
    assert placed("error", "repeated errors: get failed 4x").message == (
        "error storm: repeated errors: get failed 4x"
    )
    assert placed("fight", "no prefix here").message == "controllers fighting: no prefix here"


def test_a_shorter_session_of_the_same_name_is_scanned_from_the_start(tmp_path: Path) -> None:
    started = 1_700_000_000_000_000_000
    for name, reconciles in (("long.db", 8), ("short.db", 3)):
        recorder = ReconcileRecorder(tmp_path / name, RECORDED)
        with RecordingWriter(str(tmp_path / name)) as writer:
            writer.begin_session(SessionInfo(SESSION, started_ns=started))
            writer.append(recorder.reconciles(reconciles))
    long = scan_recording(RecordingSpec(str(tmp_path / "long.db")), None, 0)
    assert long.delta is not None and long.delta.last_seq == 52 and long.rebuilt
    again = scan_recording(RecordingSpec(str(tmp_path / "long.db")), long.key, 52)
    assert again.delta is not None and again.delta.operations == 0 and not again.rebuilt
    # Same name, same start, same first operation: only the shorter length tells.
    short = scan_recording(RecordingSpec(str(tmp_path / "short.db")), long.key, 52)
    assert short.key == long.key and short.rebuilt
    assert short.delta is not None and (short.delta.after_seq, short.delta.last_seq) == (0, 19)
