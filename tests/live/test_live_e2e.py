"""``kreplay live`` end to end: the real sample operators re-run against their recordings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from recorder.storage import open_recording

REPO = Path(__file__).resolve().parents[2]
CONFLICTS = REPO / "samples" / "recordings" / "conflicts.db"
pytestmark = pytest.mark.skipif(not CONFLICTS.exists(), reason="sample recordings missing")


def live(*args: str, operator: list[str]) -> tuple[int, dict[str, Any], str]:
    command = [
        sys.executable, "-m", "kreplay_dap.cli.main", "live", *args, "--format", "json",
        "--idle-timeout", "3", "--timeout", "180", "--", *operator,
    ]  # fmt: skip
    done = subprocess.run(
        command, check=False, cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def conflicts_operator(*flags: str) -> list[str]:
    return [sys.executable, "-m", "samples.operators.conflicts", "--until-idle", "2", *flags]


def recorded_writes(session: str) -> list[int]:
    recording = open_recording(str(CONFLICTS))
    try:
        return [op.seq for op in recording.operations(session) if op.is_write]
    finally:
        recording.close()


def test_the_buggy_operator_replays_its_own_recording_without_divergence() -> None:
    code, summary, _ = live("conflicts-buggy", "-d", str(CONFLICTS), operator=conflicts_operator())
    assert summary["divergences"] == []
    assert summary["unconsumed_writes"] == []
    assert summary["matched_steps"] == recorded_writes("conflicts-buggy")
    assert code == 0


def test_the_fixed_operator_diverges_at_the_first_differing_write() -> None:
    code, summary, stderr = live(
        "conflicts-buggy", "-d", str(CONFLICTS), operator=conflicts_operator("--fixed")
    )
    first = summary["divergences"][0]
    assert first["kind"] == "mismatch"
    assert first["step"] in recorded_writes("conflicts-buggy")
    # every recorded write before it matched: it is the first one that differs
    before = [step for step in recorded_writes("conflicts-buggy") if step < first["step"]]
    assert [step for step in summary["matched_steps"] if step < first["step"]] == before
    assert first["differences"], first
    for difference in first["differences"]:
        assert difference["path"].startswith(".")
        assert difference["recorded"] != difference["live"]
    assert f"DIVERGENCE step {first['step']}" in stderr
    assert code == 1


def test_stop_on_divergence_ends_the_run_there() -> None:
    code, summary, _ = live(
        "conflicts-buggy", "-d", str(CONFLICTS), "--stop-on-divergence",
        operator=conflicts_operator("--fixed", "--max-reconciles", "1000"),
    )  # fmt: skip
    assert summary["stopped_on_divergence"] is True
    assert summary["divergences"][0]["kind"] == "mismatch"
    assert summary["unconsumed_writes"] == []  # not judged: the run stopped early
    assert code == 1


def write_operator(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "operator.py"
    script.write_text(
        "from kubernetes import client, config\n"
        "config.load_kube_config()\n"
        "core = client.CoreV1Api()\n" + textwrap.dedent(body)
    )
    return [sys.executable, str(script)]


def test_a_missing_write_is_reported(tmp_path: Path) -> None:
    idle = write_operator(tmp_path, 'core.list_namespaced_config_map("default")\n')
    code, summary, _ = live("conflicts-buggy", "-d", str(CONFLICTS), operator=idle)
    missing = [d for d in summary["divergences"] if d["kind"] == "missing-write"]
    assert [d["step"] for d in missing] == recorded_writes("conflicts-buggy")
    assert code == 1


def test_an_extra_write_is_reported(tmp_path: Path) -> None:
    extra = write_operator(
        tmp_path,
        """
        body = {"metadata": {"name": "surprise"}, "data": {"a": "b"}}
        core.create_namespaced_config_map("default", body)
        """,
    )
    code, summary, _ = live("conflicts-buggy", "-d", str(CONFLICTS), operator=extra)
    kinds = [(d["kind"], d["verb"], d["object"]) for d in summary["divergences"]]
    assert ("extra-write", "create", "ConfigMap/default/surprise") in kinds
    assert code == 1


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kreplay_dap.cli.main", "live", "nope", "-d", str(CONFLICTS),
         "--", sys.executable, "-c", "pass"],
        check=False, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "unknown session 'nope'" in done.stderr
