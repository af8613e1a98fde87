"""Running ``kreplay`` two ways: the installed console script in a subprocess, and ``main()``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from kreplay_dap.cli.main import main


@dataclass
class Run:
    code: int
    out: str
    err: str


def console_script() -> str:
    beside = Path(sys.executable).parent / "kreplay"
    found = str(beside) if beside.is_file() else shutil.which("kreplay")
    if found is None:
        pytest.fail("the kreplay console script is not installed (pip install -e '.[tools]')")
    return found


def run_script(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, stdin: str = ""
) -> Run:
    """The console script in a subprocess; ``stdin`` is what it reads (interactive replay)."""
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    done = subprocess.run(
        [console_script(), *args],
        cwd=cwd,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def run_main(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Run:
    monkeypatch.setenv("COLUMNS", "200")
    code = main(args)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def assert_one_line_error(run: Run, pattern: str) -> None:
    """Exit code 2, one line on stderr (and nothing before it), no traceback."""
    assert run.code == 2, (run.out, run.err)
    lines = run.err.rstrip("\n").splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("kreplay: error: "), run.err
    assert "Traceback" not in run.err + run.out
    assert re.search(pattern, lines[0]), (pattern, lines[0])
