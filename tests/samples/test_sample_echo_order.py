"""A write's own watch event recorded before the write is not "someone else's change".

The sample operators' watch thread usually records the MODIFIED event of a status patch
before the main thread records the patch itself (the server sends the event first). The
hot loop must still be found.
"""

from __future__ import annotations

import json
from pathlib import Path

from kreplay_dap.analysis import analyze
from recorder.storage import Operation, RecordingWriter, SessionInfo, open_recording

ACTOR = "widget-hotloop"


def widget(rv: int, stamp: int) -> bytes:
    body = {
        "apiVersion": "demo.kreplay.dev/v1",
        "kind": "Widget",
        "metadata": {"name": "web", "namespace": "default", "resourceVersion": str(rv),
                     "generation": 1},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1, "lastReconcileTime": f"2026-01-01T00:00:{stamp:02d}Z"},
    }  # fmt: skip
    return json.dumps(body).encode()


def op(verb: str, rv: int, **extra: str) -> Operation:
    return Operation(
        "s", 0, 1_000_000_000 + rv * 1_000_000, verb, api_version="demo.kreplay.dev/v1",
        kind="Widget", resource="widgets", namespace="default", name="web",
        resource_version=str(rv), response_body=widget(rv, rv % 60), actor=ACTOR,
        status_code=200, **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def test_loop_found_when_each_watch_event_precedes_its_write(tmp_path: Path) -> None:
    path = tmp_path / "echo.db"
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("s"))
        ops = [op("create", 2)]
        for rv in range(3, 15):  # read, then the write's event, then the write
            ops += [op("get", rv - 1), op("watch", rv, event_type="MODIFIED"),
                    op("patch", rv, subresource="status")]  # fmt: skip
        writer.append(ops)
    recording = open_recording(str(path))
    try:
        loops = analyze(recording, "s").of_type("loop")
    finally:
        recording.close()
    assert any("Widget/default/web" in finding.objects for finding in loops)
