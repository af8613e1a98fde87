"""``mode: "live"`` over stdio: the adapter asks the client to attach to the operator's
debugpy (``startDebugging``), and a divergence arrives as a stop with its diff."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.dap.client import REPO_ROOT, DapClient, schema_checker
from tests.live.dap_socket import SocketDapClient, connect_when_listening

RECORDING = REPO_ROOT / "samples" / "recordings" / "conflicts.db"
OPERATOR = REPO_ROOT / "samples" / "operators" / "conflicts.py"


def reverse_request(client: DapClient, command: str) -> dict[str, Any]:
    for _ in range(1000):
        message = client.receive()
        if message["type"] == "request" and message["command"] == command:
            return message
    raise AssertionError(f"no {command} reverse request")


def operator_output(client: DapClient, text: str) -> dict[str, Any]:
    """The output event that carries ``text`` from the operator's stderr."""
    for _ in range(1000):
        for event in client.events:
            body: dict[str, Any] = event.get("body", {})
            if event["event"] == "output" and text in body.get("output", ""):
                return body
        client.receive()
    raise AssertionError(f"no output event with {text!r}")


def answer(client: DapClient, request: dict[str, Any]) -> None:
    client.seq += 1
    body = json.dumps(
        {"seq": client.seq, "type": "response", "request_seq": request["seq"],
         "success": True, "command": request["command"]}
    ).encode()  # fmt: skip
    client.send_raw(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


@pytest.mark.skipif(not RECORDING.exists(), reason="sample recordings missing")
def test_live_launch_attaches_a_child_session_and_stops_on_divergence() -> None:
    client = DapClient(schema_checker())
    try:
        client.request(
            "initialize",
            {"adapterID": "kreplay", "supportsStartDebuggingRequest": True,
             "linesStartAt1": True, "columnsStartAt1": True},
        )  # fmt: skip
        client.request(
            "launch",
            {"database": str(RECORDING), "session": "conflicts-buggy", "mode": "live",
             "program": str(OPERATOR), "args": ["--fixed", "--until-idle", "2"],
             "stopOnEntry": True},
        )  # fmt: skip
        client.request("configurationDone")
        assert client.event("stopped")["body"]["reason"] == "entry"
        start = reverse_request(client, "startDebugging")
        arguments = start["arguments"]
        assert arguments["request"] == "attach"
        configuration = arguments["configuration"]
        assert configuration["type"] == "debugpy" and configuration["request"] == "attach"
        assert configuration["connect"]["host"] == "127.0.0.1"
        answer(client, start)

        # What VS Code's child Python session does: attach, so the operator runs.
        debuggee = SocketDapClient(connect_when_listening(configuration["connect"]["port"]))
        debuggee.send("initialize", {"adapterID": "debugpy"})
        debuggee.wait_for("response", "initialize")
        debuggee.send("attach", configuration)
        debuggee.wait_for("event", "initialized")
        debuggee.send("configurationDone")

        stopped = client.event("stopped")["body"]
        assert stopped["reason"] == "exception"
        assert stopped["description"].startswith("live divergence: step ")
        info = client.request("exceptionInfo", {"threadId": stopped["threadId"]})
        assert info["exceptionId"] == "live-divergence"
        assert info["details"]["typeName"] == "mismatch"
        assert ": recorded " in info["details"]["stackTrace"]
        frames = client.request("stackTrace", {"threadId": stopped["threadId"]})["stackFrames"]
        step = int(stopped["description"].split("step ")[1].split(":")[0])
        assert frames[0]["name"].endswith(f"(#{step})")
        # The operator's own log reaches the client as output, never on the protocol stream.
        assert operator_output(client, "watching Widget")["category"] == "stderr"
        client.request("disconnect", {})
        debuggee.sock.close()
    finally:
        assert client.close() == 0
    assert Path(OPERATOR).exists()
