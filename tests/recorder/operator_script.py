"""An operator-style process for the crash and multi-process tests.

usage: operator_script.py DB SESSION SERVER_URL CALLS [--then-forever] [--no-close]
Makes CALLS recorded calls, flushes, prints "flushed <n> <writer pid>", then either
exits (closing the recorder, or leaving it to atexit) or keeps calling until killed.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import kubernetes

from recorder import Recorder

client: Any = kubernetes.client


def main() -> None:
    db, session, url, calls = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    recorder = Recorder(db, session)
    core = client.CoreV1Api(recorder.instrument(client.ApiClient(client.Configuration(host=url))))
    name = f"cm-{session}-{os.getpid()}"
    core.create_namespaced_config_map("default", {"metadata": {"name": name}, "data": {"n": "0"}})
    for index in range(1, calls):
        core.patch_namespaced_config_map(name, "default", {"data": {"n": str(index)}})
    stats = recorder.flush()
    print("flushed", stats["written"], recorder._pipeline._proc.pid, flush=True)
    if "--then-forever" in sys.argv:
        for index in range(10**9):  # until the test kills us
            core.read_namespaced_config_map(name, "default")
            if index % 20 == 0:
                print("progress", index, flush=True)
    if "--no-close" not in sys.argv:
        recorder.close()


if __name__ == "__main__":
    main()
