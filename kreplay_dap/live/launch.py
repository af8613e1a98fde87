"""Starting the operator for a live replay: environment, kubeconfig and debugpy wrapping."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recorder.errors import InvalidInputError

REPLAY_ENV = "KREPLAY_LIVE_REPLAY"
SESSION_ENV = "KREPLAY_LIVE_SESSION"
_PYTHON_NAMES = ("python", "python3", f"python{sys.version_info.major}.{sys.version_info.minor}")


@dataclass
class OperatorCommand:
    """The operator's argv, possibly rewritten to start under debugpy."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    debug_port: int | None = None

    def attach_configuration(self, cwd: str) -> dict[str, Any]:
        """The VS Code ``launch.json`` entry that attaches to the operator."""
        if self.debug_port is None:
            raise InvalidInputError("the operator was not started with --debug")
        return {
            "name": "Attach to live-replayed operator",
            "type": "debugpy",
            "request": "attach",
            "connect": {"host": "127.0.0.1", "port": self.debug_port},
            "pathMappings": [{"localRoot": cwd, "remoteRoot": cwd}],
            "justMyCode": False,
        }


def is_python(executable: str) -> bool:
    name = Path(executable).name
    return name in _PYTHON_NAMES or name.startswith("python")


def build_command(
    argv: list[str], kubeconfig: str, session_id: str, debug_port: int | None
) -> OperatorCommand:
    """Validate the operator command; with a debug port, run it under debugpy."""
    if not argv:
        raise InvalidInputError("no operator command: add it after '--', e.g. -- python op.py")
    if len(argv) > 1000 or any(len(arg) > 32_768 for arg in argv):
        raise InvalidInputError("operator command too long")
    if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
        raise InvalidInputError(f"operator command not found: {argv[0]}")
    env = {"KUBECONFIG": kubeconfig, REPLAY_ENV: "1", SESSION_ENV: session_id}
    if debug_port is None:
        return OperatorCommand(list(argv), env)
    if not is_python(argv[0]):
        raise InvalidInputError("--debug needs a Python operator command (python my_operator.py)")
    wrapped = [
        argv[0],
        "-m",
        "debugpy",
        "--listen",
        f"127.0.0.1:{debug_port}",
        "--wait-for-client",
        *argv[1:],
    ]
    return OperatorCommand(wrapped, env, debug_port)


def child_environment(extra: dict[str, str]) -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(extra)
    return environment
