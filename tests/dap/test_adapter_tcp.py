"""``python -m kreplay_dap --port 0``: picks a free port, says which, serves one client."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

from .client import MESSAGE_DEADLINE_S, REPO_ROOT


def test_tcp_mode_serves_initialize() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "kreplay_dap", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        cwd=REPO_ROOT,
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline().decode()
        port = int(banner.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=MESSAGE_DEADLINE_S) as conn:
            body = json.dumps(
                {"seq": 1, "type": "request", "command": "initialize", "arguments": {}}
            )
            conn.sendall(b"Content-Length: %d\r\n\r\n%s" % (len(body), body.encode()))
            reader = conn.makefile("rb")
            length = int(reader.readline().split(b":")[1])
            reader.readline()
            response = json.loads(reader.read(length))
            assert response["command"] == "initialize" and response["success"] is True
            reader.close()
        assert process.wait(timeout=MESSAGE_DEADLINE_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stderr is not None:
            process.stderr.close()
