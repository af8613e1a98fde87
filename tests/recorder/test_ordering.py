"""The writer numbers operations in the order the operator process received them.

A watch's last socket read is held back until the writer knows how much of it the client
used; an operation received after that read must still be numbered after its events.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

import kubernetes

from recorder import Recorder
from recorder.capture import messages as m
from recorder.capture.sink import HOLD_NS, Sink, SinkConfig
from tests.recorder.helpers import read_ops

client: Any = kubernetes.client
watch: Any = kubernetes.watch

_WATCH_URL = "/api/v1/namespaces/default/configmaps?watch=true"
_CREATE_URL = "/api/v1/namespaces/default/configmaps"


def chunk(name: str) -> bytes:
    obj = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": "default", "resourceVersion": "7"}}  # fmt: skip
    line = json.dumps({"type": "ADDED", "object": obj}).encode() + b"\n"
    return b"%x\r\n%s\r\n" % (len(line), line)


def create(ts_ns: int, name: str) -> m.Message:
    body = json.dumps({"kind": "ConfigMap", "apiVersion": "v1",
                       "metadata": {"name": name, "namespace": "default"}}).encode()  # fmt: skip
    return (m.CALL, ts_ns, 50, "POST", _CREATE_URL, "application/json", None, 201, "Created",
            body, "", "", "worker", (), 0)  # fmt: skip


def recorded_order(tmp_path: Path, messages: list[m.Message]) -> list[str]:
    path = str(tmp_path / "order.db")
    sink = Sink(SinkConfig(path=path, session_id="s1", redaction_key="00" * 32))
    opened = (m.WATCH_OPEN, 1, 0, _WATCH_URL, "watcher", (), 0, m.FRAMING_CHUNKED)
    for message in [opened, *messages]:  # one frame each, as over time
        sink.handle(m.read_frame(io.BytesIO(m.encode_frame([message]))) or [])
    sink.handle([(m.END, 0)])
    return [f"{op.verb} {op.name}" for op in read_ops(path)[0]]


def test_a_call_after_a_held_read_is_numbered_after_its_events(tmp_path: Path) -> None:
    messages = [(1, 1_000, chunk("seen-a") + chunk("seen-b")), create(2_000, "made")]
    assert recorded_order(tmp_path, messages) == ["watch seen-a", "watch seen-b", "create made"]


def test_a_call_started_before_the_read_keeps_its_place(tmp_path: Path) -> None:
    messages = [(1, 1_000, chunk("seen")), create(500, "earlier"), (m.WATCH_CLOSE, (1, 0))]
    assert recorded_order(tmp_path, messages) == ["create earlier", "watch seen"]


def test_another_streams_events_wait_for_the_earlier_held_read(tmp_path: Path) -> None:
    second = (m.WATCH_OPEN, 2, 0, _WATCH_URL, "other", (), 0, m.FRAMING_CHUNKED)
    messages = [second, (1, 1_000, chunk("first")), (2, 2_000, chunk("second")),
                (m.WATCH_CLOSE, (2, 0))]  # fmt: skip
    assert recorded_order(tmp_path, messages) == ["watch first", "watch second"]


def test_a_call_that_ends_after_an_event_it_caused_goes_before_it(tmp_path: Path) -> None:
    """Calls arrive when they end; the event of one that started earlier waits for it."""
    messages = [(1, 2_000, chunk("made")), (m.WATCH_CLOSE, (1, 0)), create(1_000, "made")]
    assert recorded_order(tmp_path, messages) == ["create made", "watch made"]


def test_operations_older_than_the_hold_are_written_without_a_flush(tmp_path: Path) -> None:
    path = str(tmp_path / "hold.db")
    sink = Sink(SinkConfig(path=path, session_id="s1", redaction_key="00" * 32))
    frame = [create(1_000, "old"), create(1_000 + HOLD_NS + 1, "new")]
    sink.handle(m.read_frame(io.BytesIO(m.encode_frame(frame))) or [])
    assert [op.name for op in read_ops(path)[0]] == ["old"]  # "new" waits for later calls
    sink.handle([(m.END, 0)])
    assert [op.name for op in read_ops(path)[0]] == ["old", "new"]


def test_a_watch_then_a_write_from_another_thread_in_order(
    make_recorder: Any, configuration: Any, db: str
) -> None:
    """End to end: the initial events arrive in one read; the create comes after them."""
    recorder: Recorder = make_recorder()
    core = client.CoreV1Api(recorder.instrument(client.ApiClient(configuration)))
    for name in ("one", "two"):
        core.create_namespaced_config_map("default", {"metadata": {"name": name}})
    initial_seen, seen = threading.Event(), []
    stream = watch.Watch()

    def follow() -> None:
        for event in stream.stream(core.list_namespaced_config_map, "default",
                                   resource_version="0", timeout_seconds=20):  # fmt: skip
            seen.append(event["object"].metadata.name)
            if len(seen) == 2:
                initial_seen.set()
            if "three" in seen:
                stream.stop()

    watcher = threading.Thread(target=follow)
    watcher.start()
    assert initial_seen.wait(20)
    core.create_namespaced_config_map("default", {"metadata": {"name": "three"}})
    watcher.join(30)
    recorder.close()

    order = [f"{op.verb} {op.name}" for op in read_ops(db)[0]]
    initial = max(order.index("watch one"), order.index("watch two"))
    assert initial < order.index("create three") < order.index("watch three")
    stamps = [op.ts_ns for op in read_ops(db)[0]]
    assert stamps == sorted(stamps)
