"""``kreplay verify`` judges time within one actor's stream, with the tolerance of the clock
that stamped it: no false "time-backwards" for a Go-tool file imported losslessly, nor for
several processes recording one session."""

from __future__ import annotations

import json
from pathlib import Path

from recorder.storage import Operation, RecordingWriter, SessionInfo
from tests.cli.clirun import run_script
from tests.storage.seedfiles import write_seed_v1_rows

MS = 1_000_000


def checks(run_out: str) -> dict[str, list[str]]:
    return {p["check"]: p["examples"] for p in json.loads(run_out)["problems"]}


def test_a_go_tool_file_that_verifies_still_verifies_after_a_lossless_import(
    tmp_path: Path,
) -> None:
    """Whole-second stamps taken at the start: a slow call then a quick one a second later
    ends 2 s "earlier" by a start + duration clock, and is fine by the Go tool's."""
    rows = [
        ("g", 1, 100, "GET", "Pod", "ns", "a", "{}", None, 3000),
        ("g", 2, 101, "GET", "Pod", "ns", "b", "{}", None, 1),
        ("g", 3, 101, "UPDATE", "Pod", "ns", "a", "{}", "409 Conflict: modified", 2),
    ]
    go = write_seed_v1_rows(tmp_path / "go.db", rows)
    assert run_script(["verify", str(go)], tmp_path).code == 0
    imported = run_script(["import", str(go), "-d", "ours.db"], tmp_path)
    assert imported.code == 0, imported.err
    run = run_script(["verify", "ours.db", "--format", "json"], tmp_path)
    assert run.code == 0, run.out
    exported = run_script(["export", "g", "-d", "ours.db", "-o", "g.jsonl"], tmp_path)
    assert exported.code == 0, exported.err
    again = run_script(["import", "g.jsonl", "-d", "again.db"], tmp_path)
    assert again.code == 0 and run_script(["verify", "again.db"], tmp_path).code == 0


def _batch(actor: str, start_ms: int, count: int) -> list[Operation]:
    """One process's batch: its operations in the order they completed, 10 ms apart."""
    return [
        Operation("shared", 0, (start_ms + 10 * i) * MS, "patch", kind="ConfigMap",
                  namespace="default", name=f"mp-{actor}", duration_us=2000, actor=actor)
        for i in range(count)
    ]  # fmt: skip


def test_two_processes_recording_one_session_do_not_go_back_in_time(tmp_path: Path) -> None:
    """Each writer numbers its batch when it commits: process B's batch of the same 100 ms
    comes after A's, so across actors the stamps go back ~100 ms; within each, never."""
    path = tmp_path / "mp.db"
    with RecordingWriter(str(path)) as first, RecordingWriter(str(path)) as second:
        first.begin_session(SessionInfo("shared", started_ns=1))
        second.begin_session(SessionInfo("shared", started_ns=1))
        first.append(_batch("sa", 1000, 10))
        second.append(_batch("sb", 1000, 10))
        first.append(_batch("sa", 1100, 10))
        second.append(_batch("sb", 1100, 10))
    run = run_script(["verify", str(path), "--format", "json"], tmp_path)
    assert run.code == 0, run.out


def test_time_going_back_within_one_actor_is_still_reported(tmp_path: Path) -> None:
    path = tmp_path / "back.db"
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("shared", started_ns=1))
        writer.append(_batch("sa", 1000, 5) + _batch("sb", 500, 1) + _batch("sa", 900, 1))
    run = run_script(["verify", str(path), "--format", "json"], tmp_path)
    assert run.code == 1
    assert checks(run.out)["time-backwards"] == [
        "seq 7 ends 138000000 ns before an earlier operation started (actor 'sa')"
    ]


def test_concurrent_calls_numbered_in_start_order_are_in_time(tmp_path: Path) -> None:
    """The recorder numbers calls by start: a long call comes before a short one that
    started after it and ended first; the older completion order is accepted too."""
    path = tmp_path / "concurrent.db"
    long_call, short_call = _batch("sa", 1000, 1)[0], _batch("sa", 1010, 1)[0]
    earlier_long, later_short = _batch("sa", 2000, 1)[0], _batch("sa", 2010, 1)[0]
    long_call.duration_us = earlier_long.duration_us = 50_000
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("shared", started_ns=1))
        writer.append([long_call, short_call])
        writer.append([later_short, earlier_long])  # completion order
    run = run_script(["verify", str(path), "--format", "json"], tmp_path)
    assert run.code == 0, run.out
