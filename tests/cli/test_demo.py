"""``kreplay demo`` end to end, through the installed console script in a subprocess."""

from __future__ import annotations

import json
import os
import queue
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest

from kreplay_dap.analysis import analyze
from recorder.storage import open_recording
from tests.apiserver.helpers import kubectl_command

REPO_ROOT = Path(__file__).resolve().parents[2]
LAUNCH_SCHEMA = REPO_ROOT / "kreplay_dap" / "dap" / "launch_arguments.json"


def console_script() -> str:
    beside = Path(sys.executable).parent / "kreplay"
    found = str(beside) if beside.is_file() else shutil.which("kreplay")
    if found is None:
        pytest.fail("the kreplay console script is not installed (pip install -e '.[tools]')")
    return found


def launch_configuration(output: str) -> dict[str, object]:
    start = output.index('{\n  "version"')
    config, _ = json.JSONDecoder().raw_decode(output[start:])
    assert isinstance(config, dict)
    [launch] = config["configurations"]
    assert isinstance(launch, dict)
    return launch


def test_demo_records_the_hot_loop_finds_it_and_cleans_up(tmp_path: Path) -> None:
    work, scratch = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch), COLUMNS="100")
    result = subprocess.run(
        [console_script(), "demo"], cwd=work, env=env, capture_output=True, text=True,
        timeout=240, check=False,
    )  # fmt: skip
    output = result.stdout

    assert result.returncode == 0, output + result.stderr
    assert "Found the hot loop" in output
    assert "Widget/default/web" in output
    database = work / "kreplay-demo" / "demo.db"
    assert database.is_file()
    assert list(scratch.iterdir()) == []  # kubeconfig, operator log: all removed
    for command in ("replay", "analyze", "serve"):
        assert f"kreplay {command} hotloop-demo -d kreplay-demo/demo.db" in output
    assert "--kubeconfig-out kreplay-demo/kubeconfig" in output

    launch = launch_configuration(output)
    assert launch["type"] == "kreplay" and launch["request"] == "launch"
    assert launch["session"] == "hotloop-demo"
    assert launch["database"] == "${workspaceFolder}/kreplay-demo/demo.db"
    arguments = {
        key: value for key, value in launch.items() if key not in {"type", "request", "name"}
    }
    jsonschema.validate(arguments, json.loads(LAUNCH_SCHEMA.read_text()))

    recording = open_recording(str(database))
    try:
        assert [info.session_id for info in recording.sessions()] == ["hotloop-demo"]
        loops = analyze(recording, "hotloop-demo").of_type("loop")
    finally:
        recording.close()
    assert any("Widget/default/web" in finding.objects for finding in loops)
    check_printed_serve_command(output, work, env)


def printed_command(output: str, prefix: str) -> list[str]:
    line = next(line.strip() for line in output.splitlines() if line.strip().startswith(prefix))
    return shlex.split(line)


def check_printed_serve_command(output: str, work: Path, env: dict[str, str]) -> None:
    """The printed ``kreplay serve`` really serves the recorded Widget to kubectl."""
    arguments = printed_command(output, "kreplay serve")
    server = subprocess.Popen(
        [console_script(), *arguments[1:]], cwd=work, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()

    def read_lines() -> None:
        for line in server.stdout or []:
            lines.put(line)

    threading.Thread(target=read_lines, daemon=True).start()
    try:
        for _ in range(20):  # bounded: the server prints a few lines, then "listening"
            if "listening on" in lines.get(timeout=60):
                break
        kubeconfig = arguments[arguments.index("--kubeconfig-out") + 1]
        shown = subprocess.run(
            kubectl_command(kubeconfig, "get", "widgets", "-o", "name"), cwd=work,
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["widget.demo.kreplay.dev/web"]


def test_demo_output_option_and_rerun_replaces_the_database(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    command = [console_script(), "demo", "--output", str(target)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    assert first.returncode == 0, first.stdout + first.stderr
    again = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    assert again.returncode == 0, again.stdout + again.stderr

    recording = open_recording(str(target / "demo.db"))
    try:
        assert [info.session_id for info in recording.sessions()] == ["hotloop-demo"]
    finally:
        recording.close()


def test_demo_refuses_an_output_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = subprocess.run(
        [console_script(), "demo", "--output", str(blocker)], capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("kreplay: error:")
    assert blocker.read_text() == "not a directory"
