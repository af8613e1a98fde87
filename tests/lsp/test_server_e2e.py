"""End to end: ``python -m kreplay_dap.lsp`` as a subprocess, driven over stdio.

The sample operator's source lives in ``tmp/op``; its recording names it as it was in
the container, ``/app/controllers/widget.py``; ``pathMappings`` joins the two.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kreplay_dap.lsp.findings import PlacedFinding, place_findings
from recorder.storage import open_recording
from tests.lsp.client import LspClient, LspConnection
from tests.lsp.scenario import SESSION, ReconcileRecorder, Scenario, build, source_line

MARKERS = (
    "get-widget",
    "get-deployment",
    "patch",
    "replace-deployment",
    "status-ready",
    "status-seen",
)
RECORDED = "/app/controllers/widget.py"


def settings(scenario: Scenario, mapped: bool = True) -> dict[str, Any]:
    mappings = [{"localRoot": str(scenario.local_root), "remoteRoot": "/app"}] if mapped else []
    return {
        "kreplay": {
            "recordings": [{"database": str(scenario.database)}],
            "pathMappings": mappings,
            "pollIntervalMs": 100,
        }
    }


@pytest.fixture
def client(tmp_path: Path) -> Iterator[LspClient]:
    lsp = LspClient.start_server(tmp_path)
    try:
        yield lsp
    finally:
        assert lsp.close() == 0, (tmp_path / "server-stderr.log").read_text()


def indexed(client: LspConnection, last_seq: int) -> dict[str, Any]:
    params = client.wait_for(
        "kreplay/indexed",
        lambda p: any(r["lastSeq"] == last_seq and r["analyzed"] for r in p["recordings"]),
    )
    return dict(params)


def lenses_by_line(client: LspConnection, uri: str) -> dict[int, dict[str, Any]]:
    lenses = client.request("textDocument/codeLens", {"textDocument": {"uri": uri}})
    return {lens["range"]["start"]["line"] + 1: lens for lens in lenses}


def expected_findings(scenario: Scenario) -> list[PlacedFinding]:
    """The analysis run in this process: the server must place the same findings."""
    recording = open_recording(str(scenario.database))
    try:
        return place_findings(recording, SESSION)
    finally:
        recording.close()


def test_diagnostics_for_the_seeded_bugs(tmp_path: Path, client: LspClient) -> None:
    scenario, _ = build(tmp_path, reconciles=8)
    client.initialize(tmp_path, settings(scenario))
    indexed(client, last_seq=52)
    uri = client.open(scenario.source)
    published = client.wait_for("textDocument/publishDiagnostics", lambda p: p["uri"] == uri)
    got = sorted(
        (d["range"]["start"]["line"] + 1, d["code"], d["data"]["seq"])
        for d in published["diagnostics"]
    )
    wanted = sorted(
        (line, item.finding.type, seq)
        for item in expected_findings(scenario)
        for (file, line), seq in item.first_seq_by_line.items()
        if file == RECORDED
    )
    assert got == wanted
    # The seeded conflict storm: a patch, then a retry with the stale object, both 409.
    conflict = {d["range"]["start"]["line"] + 1: d for d in published["diagnostics"]
                if d["code"] == "conflict"}  # fmt: skip
    patch, replace = source_line("patch"), source_line("replace-deployment")
    assert sorted(conflict) == [patch, replace]
    assert conflict[patch]["severity"] == 2 and conflict[patch]["source"] == "kreplay"
    storm = next(f for f in expected_findings(scenario) if f.finding.type == "conflict")
    assert storm.finding.description.startswith("conflict storm: ")
    assert conflict[patch]["message"] == storm.finding.description  # the prefix once
    related = conflict[patch]["relatedInformation"]
    assert [
        (r["location"]["uri"], r["location"]["range"]["start"]["line"] + 1) for r in related
    ] == [(uri, replace)]
    actions = client.request(
        "textDocument/codeAction",
        {"textDocument": {"uri": uri}, "range": conflict[patch]["range"],
         "context": {"diagnostics": [conflict[patch]]}},
    )  # fmt: skip
    assert [a["title"] for a in actions] == ["Replay the first occurrence"]
    assert actions[0]["command"]["command"] == "kreplay.replayFromHere"
    assert actions[0]["command"]["arguments"] == [
        str(scenario.database),
        SESSION,
        conflict[patch]["data"]["seq"],
    ]


def test_lenses_and_hover(tmp_path: Path, client: LspClient) -> None:
    scenario, _ = build(tmp_path, reconciles=8)
    result = client.initialize(tmp_path, settings(scenario))
    assert result["capabilities"]["codeLensProvider"] is not None
    assert result["capabilities"]["hoverProvider"]
    indexed(client, last_seq=52)
    uri = client.open(scenario.source)

    lenses = lenses_by_line(client, uri)
    assert sorted(lenses) == sorted(source_line(marker) for marker in MARKERS)
    for marker in MARKERS:
        title = lenses[source_line(marker)]["command"]["title"]
        assert title.startswith(f"{scenario.counts[marker]} calls (")
        errors = scenario.errors.get(marker, 0)
        assert (f" \u00b7 {errors} errors" in title) == bool(errors)
    patch = lenses[source_line("patch")]["command"]
    assert patch["title"].startswith("8 calls (patch Deployment \u00d78) \u00b7 4 errors \u00b7 in")
    assert patch["title"].endswith(" \u2014 Replay from here")
    assert patch["command"] == "kreplay.replayFromHere"
    assert patch["arguments"] == [str(scenario.database), SESSION, 3]
    for item in expected_findings(scenario):
        for _file, line in item.first_seq_by_line:
            assert f"in {item.short}" in lenses[line]["command"]["title"]

    hover = client.request(
        "textDocument/hover",
        {"textDocument": {"uri": uri}, "position": {"line": source_line("patch") - 1,
                                                     "character": 8}},
    )  # fmt: skip
    text = hover["contents"]["value"]
    assert "8 calls from this line (patch Deployment \u00d78), 4 errors" in text
    assert "| 48 | patch | Deployment default/w1 | 409 \u2717 | 1.5 ms |" in text
    assert "| 42 | patch | Deployment default/w1 | 200 | 1.5 ms |" in text
    assert "**Most recent write** (seq 42)" in text
    assert "- spec.replicas: 1\n+ spec.replicas: 3" in text
    storm = next(f for f in expected_findings(scenario) if f.finding.type == "conflict")
    assert f"\n- conflict #1: {storm.finding.description}" in text  # the prefix once
    quiet = client.request(
        "textDocument/hover",
        {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}},
    )
    assert quiet is None


def test_refresh_after_the_recording_grows(tmp_path: Path, client: LspClient) -> None:
    scenario, recorder = build(tmp_path, reconciles=4)
    client.initialize(tmp_path, settings(scenario))
    indexed(client, last_seq=26)
    uri = client.open(scenario.source)
    before = lenses_by_line(client, uri)
    assert before[source_line("get-widget")]["command"]["title"].startswith("4 calls")

    recorder.append(6)  # as a recorder still running would
    indexed(client, last_seq=65)
    client.wait_for("workspace/codeLens/refresh")
    client.wait_for(
        "textDocument/publishDiagnostics",
        lambda p: p["uri"] == uri and any(d["code"] == "conflict" for d in p["diagnostics"]),
    )
    after = lenses_by_line(client, uri)
    assert after[source_line("get-widget")]["command"]["title"].startswith("10 calls")
    assert after[source_line("patch")]["command"]["arguments"][2] == 3


def test_recording_replaced_by_a_shorter_one_is_reindexed(
    tmp_path: Path, client: LspClient
) -> None:
    scenario, _ = build(tmp_path, reconciles=8)
    client.initialize(tmp_path, settings(scenario))
    indexed(client, last_seq=52)
    uri = client.open(scenario.source)
    assert lenses_by_line(client, uri)[source_line("patch")]["command"]["title"].startswith(
        "8 calls"
    )
    # The operator is recorded again under the same session name, into a fresh file.
    for path in tmp_path.glob("rec.db*"):
        path.unlink()
    rerun = ReconcileRecorder(scenario.database, RECORDED)
    rerun.append(2)
    indexed(client, last_seq=13)
    lenses = lenses_by_line(client, uri)
    assert lenses[source_line("patch")]["command"]["title"].startswith("2 calls")
    assert lenses[source_line("get-widget")]["command"]["title"].startswith("2 calls")


def test_path_mappings_decide_which_file_gets_lenses(tmp_path: Path, client: LspClient) -> None:
    scenario, _ = build(tmp_path, reconciles=3)
    client.initialize(tmp_path, settings(scenario, mapped=False))
    indexed(client, last_seq=19)
    uri = client.open(scenario.source)
    assert lenses_by_line(client, uri) == {}

    client.notify("workspace/didChangeConfiguration", {"settings": settings(scenario)})
    indexed(client, last_seq=19)
    assert sorted(lenses_by_line(client, uri)) == sorted(source_line(m) for m in MARKERS)


def test_configuration_pulled_when_the_change_carries_none(
    tmp_path: Path, client: LspClient
) -> None:
    scenario, _ = build(tmp_path, reconciles=3)
    client.initialize(tmp_path, None, pull_configuration=True)
    uri = client.open(scenario.source)
    assert lenses_by_line(client, uri) == {}
    client.answers["workspace/configuration"] = [settings(scenario)["kreplay"]]
    client.notify("workspace/didChangeConfiguration", {"settings": None})
    asked = client.wait_for("workspace/configuration")
    assert asked["items"] == [{"section": "kreplay"}]
    indexed(client, last_seq=19)
    assert len(lenses_by_line(client, uri)) == len(MARKERS)


def test_malformed_configuration_is_shown_and_the_server_keeps_serving(
    tmp_path: Path, client: LspClient
) -> None:
    scenario, _ = build(tmp_path, reconciles=3)
    not_sqlite = tmp_path / "notes.db"
    not_sqlite.write_text("these are not the recordings you are looking for\n" * 10)
    bad = {"kreplay": {"recordings": [
        {"database": str(tmp_path / "missing.db")}, {"database": str(not_sqlite)}, {"session": "x"},
    ]}}  # fmt: skip
    client.initialize(tmp_path, bad)
    errors = [client.wait_for("window/showMessage", lambda p: p["type"] == 1) for _ in range(3)]
    texts = sorted(error["message"] for error in errors)
    assert any("'database' (a file path) is required" in text for text in texts)
    assert any("missing.db: no such recording file" in text for text in texts)
    assert any("notes.db: not a SQLite database" in text for text in texts)

    uri = client.open(scenario.source)
    assert lenses_by_line(client, uri) == {}
    client.notify("workspace/didChangeConfiguration", {"settings": settings(scenario)})
    indexed(client, last_seq=19)
    assert len(lenses_by_line(client, uri)) == len(MARKERS)


def test_recording_without_call_sites_is_logged_once(tmp_path: Path, client: LspClient) -> None:
    scenario, _ = build(tmp_path, reconciles=2)
    seed = tmp_path / "seed.db"
    conn = sqlite3.connect(seed)
    conn.execute(
        "CREATE TABLE operations (id INTEGER PRIMARY KEY, session_id TEXT, sequence_number"
        " INTEGER, timestamp INTEGER, operation_type TEXT, resource_kind TEXT, namespace TEXT,"
        " name TEXT, resource_data TEXT, error TEXT, duration_ms INTEGER)"
    )
    conn.executemany(
        "INSERT INTO operations VALUES (NULL, 'old', ?, 1700000000, 'GET', 'Pod', 'ns', 'p',"
        " '{}', '', 3)",
        [(seq,) for seq in range(1, 6)],
    )
    conn.commit()
    conn.close()
    client.initialize(tmp_path, {"kreplay": {"recordings": [{"database": str(seed)}]}})
    logged = client.wait_for("window/logMessage", lambda p: "no call sites" in p["message"])
    assert "'old'" in logged["message"]
    uri = client.open(scenario.source)
    assert lenses_by_line(client, uri) == {}
    both = [{"database": str(seed)}, {"database": str(scenario.database)}]
    client.notify(
        "workspace/didChangeConfiguration", {"settings": {"kreplay": {"recordings": both}}}
    )
    indexed(client, last_seq=13)
    assert not [m for m in client.seen if "no call sites" in str(m.get("params"))]


def test_kreplay_lsp_command_serves_too(tmp_path: Path) -> None:
    scenario, _ = build(tmp_path, reconciles=2)
    args = [sys.executable, "-m", "kreplay_dap.cli.main", "lsp", "--log-level", "DEBUG"]
    lsp = LspClient(args, tmp_path, tmp_path / "cli-stderr.log")
    try:
        lsp.initialize(tmp_path, settings(scenario))
        indexed(lsp, last_seq=13)
        uri = lsp.open(scenario.source)
        assert len(lenses_by_line(lsp, uri)) == len(MARKERS)
    finally:
        assert lsp.close() == 0


def test_committed_sample_recording(tmp_path: Path, client: LspClient) -> None:
    """A recording made by the real recorder: lenses match its call sites line by line."""
    repo = Path(__file__).resolve().parents[2]
    source = repo / "samples" / "recordings" / "hotloop.db"
    if not source.exists():
        pytest.skip("samples/recordings/hotloop.db not present")
    database = tmp_path / "hotloop.db"
    shutil.copyfile(source, database)
    recording = open_recording(str(database))
    try:
        files = recording.callsite_files("hotloop-buggy")
        recorded = next(f for f in files if f.endswith("/samples/operators/children.py"))
        wanted = Counter(op.call_site[0].line for op in recording.callsite_operations(
            "hotloop-buggy", recorded))  # fmt: skip
    finally:
        recording.close()
    remote_root = recorded.rsplit("/samples/", 1)[0]
    client.initialize(
        tmp_path,
        {"kreplay": {"recordings": [{"database": str(database), "session": "hotloop-buggy"}],
                     "pathMappings": [{"localRoot": str(repo), "remoteRoot": remote_root}]}},
    )  # fmt: skip
    client.wait_for("kreplay/indexed", lambda p: any(r["analyzed"] for r in p["recordings"]))
    uri = client.open(repo / "samples" / "operators" / "children.py")
    lenses = lenses_by_line(client, uri)
    assert sorted(lenses) == sorted(wanted)
    for line, count in wanted.items():
        assert lenses[line]["command"]["title"].startswith(f"{count} call")
