"""``kreplay replay`` as a real subprocess: printed steps and the interactive keys."""

from __future__ import annotations

import subprocess
import sys

from .scenario import SESSION, Scenario


def kreplay(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    code = "import sys; from kreplay_dap.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        check=False,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_replay_prints_every_step(scenario: Scenario) -> None:
    result = kreplay("replay", SESSION, "-d", str(scenario.path))
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and len(lines) == 30
    assert lines[0].startswith("#1 create Deployment default/web -> 201")
    assert lines[23].startswith("#24 update Deployment default/web -> 409 Conflict")


def test_interactive_keys(scenario: Scenario) -> None:
    keys = "n\nn\nb\ng 26\nd\n/delete Pod/*\ns\nr\nb\nzz\nq\n"
    result = kreplay("replay", SESSION, "-d", str(scenario.path), "-i", stdin=keys)
    out = result.stdout
    assert result.returncode == 0
    assert "#2 watch ADDED Deployment default/web" in out and "#3 create Pod" in out
    assert "spec.replicas: 3 -> 5" in out
    assert "#27 delete Pod default/web-abc" in out
    assert "session demo-session: 30 operations, at #27" in out
    assert "start of recording" in out and "unknown command 'zz'" in out


def test_unknown_session_is_one_line_and_exit_2(scenario: Scenario) -> None:
    result = kreplay("replay", "nope", "-d", str(scenario.path))
    assert result.returncode == 2 and SESSION in result.stderr
