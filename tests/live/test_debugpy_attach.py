"""``kreplay live --debug``: a DAP client attaches to debugpy and hits a breakpoint in the
operator's reconcile function, fed by the recorded input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kreplay_dap.live.runner import free_port
from tests.live.dap_socket import SocketDapClient, connect_when_listening

REPO = Path(__file__).resolve().parents[2]
RECORDING = REPO / "samples" / "recordings" / "hotloop.db"
OPERATOR = REPO / "samples" / "operators" / "hotloop.py"


def reconcile_line() -> int:
    lines = OPERATOR.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("def reconcile("))
    # the first statement of the body: the line after the signature and docstring-free start
    return start + 2


@pytest.mark.skipif(not RECORDING.exists(), reason="sample recording not generated")
def test_breakpoint_in_reconcile_is_hit_under_live_replay() -> None:
    port = free_port()
    command = [
        sys.executable, "-m", "kreplay_dap.cli.main", "live", "hotloop-buggy",
        "-d", str(RECORDING), "--debug-port", str(port), "--timeout", "120",
        "--", sys.executable, str(OPERATOR), "--until-idle", "2", "--max-reconciles", "3",
    ]  # fmt: skip
    live = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        client = SocketDapClient(connect_when_listening(port))
        client.send("initialize", {"adapterID": "debugpy", "clientID": "kreplay-test"})
        client.wait_for("response", "initialize")
        client.send("attach", {"justMyCode": False})
        client.wait_for("event", "initialized")
        line = reconcile_line()
        client.send(
            "setBreakpoints",
            {"source": {"path": str(OPERATOR)}, "breakpoints": [{"line": line}]},
        )
        breakpoints = client.wait_for("response", "setBreakpoints")
        assert breakpoints["success"], breakpoints
        client.send("configurationDone")
        stopped = client.wait_for("event", "stopped")
        assert stopped["body"]["reason"] == "breakpoint"
        client.send("stackTrace", {"threadId": stopped["body"]["threadId"]})
        frames = client.wait_for("response", "stackTrace")["body"]["stackFrames"]
        assert frames[0]["name"] == "reconcile"
        assert frames[0]["line"] == line
        assert Path(frames[0]["source"]["path"]).name == "hotloop.py"
        client.send("disconnect", {"terminateDebuggee": False})
        client.sock.close()
    finally:
        live.terminate()
        _, stderr = live.communicate(timeout=60)
    assert b"debugpy waits on 127.0.0.1:%d" % port in stderr
