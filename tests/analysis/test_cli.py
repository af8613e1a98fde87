"""``kreplay analyze``, ``kreplay analyze causality`` and ``kreplay verify`` as subprocesses."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.analysis.builders import gadget, new_sim, reconcile_status, save, seed_file, setter

REPO = Path(__file__).resolve().parents[2]


def kreplay(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kreplay_dap.cli.main", *args],
        capture_output=True, text=True, cwd=REPO, timeout=120, check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )  # fmt: skip


def looping_recording(path: Path) -> Path:
    sim = new_sim()
    sim.watch("Gadget", "gadget-controller")
    key = gadget(sim, "looping")
    for index in range(10):
        reconcile_status(sim, "gadget-controller", key, index)
    sim.op("lister", "list", ("Pod", "shop", ""), status_code=200, duration_us=2_500_000)
    return save(sim, path)


def test_analyze_table_groups_by_severity_and_exits_0(tmp_path: Path) -> None:
    db = looping_recording(tmp_path / "r.db")
    result = kreplay("analyze", "s1", "-d", str(db))
    assert result.returncode == 0, result.stderr
    assert "HIGH (1)" in result.stdout and "MEDIUM" in result.stdout
    assert "Gadget/shop/looping" in result.stdout


def test_analyze_json_keeps_the_original_keys(tmp_path: Path) -> None:
    db = looping_recording(tmp_path / "r.db")
    result = kreplay("analyze", "-d", str(db), "s1", "--format", "json", "--no-races")
    payload = json.loads(result.stdout)
    assert payload["session"] == "s1" and payload["total_operations"] == 33
    assert payload["loops_detected"][0]["object"] == "Gadget/shop/looping"
    assert payload["slow_operations"][0]["duration_ms"] == 2500.0
    assert {f["type"] for f in payload["findings"]} == {"loop", "slow"}


def test_flags_threshold_env_and_window(tmp_path: Path) -> None:
    db = looping_recording(tmp_path / "r.db")
    quiet = kreplay("analyze", "s1", "-d", str(db), "--format", "json", "--no-loops", "--no-slow")
    assert json.loads(quiet.stdout)["findings"] == []
    high = kreplay("analyze", "s1", "-d", str(db), "--format", "json",
                   env={"REPLAY_SLOW_THRESHOLD": "5000"})  # fmt: skip
    assert [f for f in json.loads(high.stdout)["findings"] if f["type"] == "slow"] == []
    strict = kreplay("analyze", "s1", "-d", str(db), "--format", "json", "--window", "50")
    assert [f for f in json.loads(strict.stdout)["findings"] if f["type"] == "loop"] == []


def test_fail_on_and_bad_input_exit_codes(tmp_path: Path) -> None:
    db = looping_recording(tmp_path / "r.db")
    assert kreplay("analyze", "s1", "-d", str(db), "--fail-on", "loop,fight").returncode == 1
    assert kreplay("analyze", "s1", "-d", str(db), "--fail-on", "fight").returncode == 0
    bogus = kreplay("analyze", "s1", "-d", str(db), "--fail-on", "nonsense")
    assert bogus.returncode == 2 and "nonsense" in bogus.stderr
    missing = kreplay("analyze", "nope", "-d", str(db))
    assert missing.returncode == 2 and "s1" in missing.stderr
    (tmp_path / "junk.db").write_text("not sqlite")
    assert kreplay("analyze", "s1", "-d", str(tmp_path / "junk.db")).returncode == 2
    bad_env = kreplay("analyze", "s1", "-d", str(db), env={"REPLAY_SLOW_THRESHOLD": "fast"})
    assert bad_env.returncode == 2 and "REPLAY_SLOW_THRESHOLD" in bad_env.stderr


def test_causality_chains_cross_controllers(tmp_path: Path) -> None:
    sim = new_sim()
    sim.watch("Gadget", "gadget-controller")
    sim.watch("Widget", "widget-controller")
    key = gadget(sim, "parent")
    span = sim.begin("gadget-controller", key, "watch")
    sim.get("gadget-controller", key, span)
    child = ("Widget", "shop", "child")
    sim.create("gadget-controller", child, {"size": 1}, span)
    sim.end(span)
    span = sim.begin("widget-controller", child, "watch")
    sim.write("widget-controller", child, setter("status", "ready", True), span, sub="status")
    sim.end(span)
    db = save(sim, tmp_path / "c.db")
    result = kreplay("analyze", "causality", "s1", "-d", str(db), "--format", "json")
    graph = json.loads(result.stdout)
    relations = {edge["relation"] for edge in graph["edges"]}
    assert {"notifies", "triggers", "performs"} <= relations
    longest = max(graph["chains"], key=len)
    kinds = [node.split(":")[0] for node in longest]
    assert kinds == ["op", "op", "span", "op", "op", "span", "op", "op"]
    table = kreplay("analyze", "causality", "s1", "-d", str(db))
    assert "reconcile Widget/shop/child by widget-controller" in table.stdout


def test_verify_clean_recording_and_broken_go_file(tmp_path: Path) -> None:
    db = looping_recording(tmp_path / "r.db")
    clean = kreplay("verify", str(db))
    assert clean.returncode == 0 and "no problems" in clean.stdout
    rows: list[tuple[object, ...]] = [
        (1, 100, "GET", "Pod", "ns", "a", None, None, 1),
        (2, 101, "GET", "Pod", "ns", "a", None, None, 1),
        (2, 101, "GET", "Pod", "ns", "a", None, None, 1),
        (5, 99, "UPDATE", "Pod", "ns", "a", "{not json", None, -4),
    ]
    go = seed_file(tmp_path / "go.db", rows)
    result = kreplay("verify", "-d", str(go), "--format", "json")
    assert result.returncode == 1
    checks = {p["check"] for p in json.loads(result.stdout)["problems"]}
    assert {"duplicate-seq", "seq-gap", "time-backwards", "negative-duration"} <= checks


def test_verify_reports_open_spans_and_summary_mismatch(tmp_path: Path) -> None:
    sim = new_sim()
    key = gadget(sim, "g")
    sim.begin("gadget-controller", key, "watch")  # never ended
    db = save(sim, tmp_path / "o.db")
    conn = sqlite3.connect(db)
    conn.execute("UPDATE sessions SET op_count = op_count + 7")
    conn.commit()
    conn.close()
    result = kreplay("verify", str(db), "--format", "json")
    checks = {p["check"] for p in json.loads(result.stdout)["problems"]}
    assert result.returncode == 1 and {"open-span", "summary-mismatch"} <= checks
    (tmp_path / "junk.db").write_bytes(b"\0" * 100)
    assert kreplay("verify", str(tmp_path / "junk.db")).returncode == 2


def test_verify_judges_go_files_by_start_time(tmp_path: Path) -> None:
    """The Go tool numbered operations as they started, with whole-second timestamps: a
    slow call followed by quick ones is not time going backwards."""
    rows: list[tuple[object, ...]] = [
        (1, 100, "GET", "Pod", "ns", "a", None, None, 5000),
        (2, 100, "GET", "Pod", "ns", "b", None, None, 1),
        (3, 101, "UPDATE", "Pod", "ns", "a", None, None, 2),
    ]
    go = seed_file(tmp_path / "go.db", rows)
    result = kreplay("verify", "-d", str(go))
    assert result.returncode == 0 and "no problems" in result.stdout
