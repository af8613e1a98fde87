"""Production safety: bounded queue, failures contained, crash safety, several processes, cap."""

from __future__ import annotations

import gc
import json
import os
import resource
import select
import signal
import sqlite3
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from kreplay_dap.apiserver import RunningServer
from recorder import Recorder
from recorder.storage import open_recording
from tests.recorder.helpers import read_ops

client: Any = kubernetes.client
watch: Any = kubernetes.watch
SCRIPT = str(Path(__file__).with_name("operator_script.py"))
ROOT = str(Path(__file__).resolve().parents[2])


def cm(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": {"k": "v" * 100}}


def start_operator(db: str, session: str, server: RunningServer, calls: int, *flags: str) -> Any:
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.Popen(
        [sys.executable, SCRIPT, db, session, server.url, str(calls), *flags],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def wait_for_exit(pid: int, timeout: float = 30.0) -> None:
    """Wait for a process that is not our child (the killed operator's writer)."""
    try:
        descriptor = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        ready, _, _ = select.select([descriptor], [], [], timeout)
        assert ready, f"writer {pid} did not exit"
    finally:
        os.close(descriptor)


def test_a_full_queue_drops_and_counts_without_blocking(
    make_recorder: Any, configuration: Any, db: str
) -> None:
    recorder: Recorder = make_recorder(queue_max_bytes=1)
    core = client.CoreV1Api(recorder.instrument(client.ApiClient(configuration)))
    for index in range(5):
        assert core.create_namespaced_config_map("default", cm(f"c{index}")).metadata.uid
    stats = recorder.close()
    assert stats["dropped"] == 5
    (session,) = open_recording(db).sessions()
    assert session.dropped_ops == 5 and session.op_count == 0


def test_a_full_queue_drops_watch_events_and_the_stream_is_unchanged(
    make_recorder: Any, configuration: Any, db: str
) -> None:
    setup = client.CoreV1Api(client.ApiClient(configuration))
    start = setup.list_namespaced_config_map("default").metadata.resource_version
    for index in range(3):
        setup.create_namespaced_config_map("default", cm(f"w{index}"))
    recorder: Recorder = make_recorder(queue_max_bytes=1)
    recorded = client.CoreV1Api(recorder.instrument(client.ApiClient(configuration)))
    streams = []
    for api in (setup, recorded):
        watcher, seen = watch.Watch(), []
        for event in watcher.stream(api.list_namespaced_config_map, "default",
                                    resource_version=start, timeout_seconds=30,
                                    deserialize=False):  # fmt: skip
            seen.append((event["type"], event["object"]["metadata"]["name"]))
            if len(seen) == 3:
                watcher.stop()
        streams.append(seen)
    stats = recorder.close()
    assert streams[0] == streams[1] and len(streams[1]) == 3
    assert stats["dropped"] == 3 and stats["failures"] == 0  # events, however many reads
    (session,) = open_recording(db).sessions()
    assert session.op_count == 0 and session.dropped_ops == stats["dropped"]


def test_the_byte_bound_frees_up_as_the_writer_takes_messages(
    make_recorder: Any, configuration: Any, db: str
) -> None:
    recorder: Recorder = make_recorder(queue_max_bytes=4096)
    core = client.CoreV1Api(recorder.instrument(client.ApiClient(configuration)))
    core.create_namespaced_config_map("default", cm("a"))
    for _ in range(20):  # together far over the bound, each alone well under it
        assert core.read_namespaced_config_map("a", "default").metadata.name == "a"
        recorder.flush()
    stats = recorder.close()
    assert (stats["dropped"], stats["written"]) == (0, 21)


def test_an_unusable_file_never_breaks_the_operator(
    make_recorder: Any, configuration: Any, tmp_path: Path
) -> None:
    recorder: Recorder = make_recorder(path=str(tmp_path / "missing-dir" / "x.db"))
    core = client.CoreV1Api(recorder.instrument(client.ApiClient(configuration)))
    assert core.create_namespaced_config_map("default", cm("a")).metadata.name == "a"
    stats = recorder.flush()
    assert stats["failures"] >= 1 and "unable to open" in stats["last_error"]
    assert core.read_namespaced_config_map("a", "default").metadata.name == "a"


def test_a_full_disk_never_breaks_the_operator_and_the_file_stays_valid(
    make_recorder: Any, configuration: Any, db: str
) -> None:
    first = make_recorder("s1")
    client.CoreV1Api(
        first.instrument(client.ApiClient(configuration))
    ).create_namespaced_config_map("default", cm("a"))
    first.close()
    # The writer process inherits a file-size limit just past what the file holds now:
    # its writes then fail as on a full disk (EFBIG; Python ignores SIGXFSZ).
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(db) + (64 << 10), hard))
    try:
        recorder = make_recorder("s2")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    core = client.CoreV1Api(recorder.instrument(client.ApiClient(configuration)))
    noise = {"metadata": {"name": "big"}, "data": {"k": os.urandom(300_000).hex()}}
    assert core.create_namespaced_config_map("default", noise).metadata.name == "big"
    full = recorder.flush()
    assert core.read_namespaced_config_map("a", "default").metadata.name == "a"
    recorder.close()
    # SQLite reports EFBIG as an I/O error (ENOSPC would read "database or disk is full").
    assert full is not None and full["failures"] >= 1 and full["dropped"] >= 1
    assert "disk" in full["last_error"]
    check = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check.close()
    assert [op.verb for op in read_ops(db, "s1")[0]] == ["create"]


def test_a_locked_database_is_counted_then_recording_resumes(
    make_recorder: Any, configuration: Any, db: str
) -> None:
    recorder: Recorder = make_recorder(busy_timeout_ms=50)
    core = client.CoreV1Api(recorder.instrument(client.ApiClient(configuration)))
    core.create_namespaced_config_map("default", cm("a"))
    recorder.flush()
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    assert core.read_namespaced_config_map("a", "default").metadata.name == "a"
    locked = recorder.flush()
    other.execute("ROLLBACK")
    other.close()
    core.delete_namespaced_config_map("a", "default")
    stats = recorder.close()
    assert locked["failures"] >= 1 and "locked" in locked["last_error"]
    assert [op.verb for op in read_ops(db)[0]] == ["create", "delete"]
    assert stats["dropped"] >= 1
    assert open_recording(db).session("s1").dropped_ops >= 1


def test_an_unserialisable_body_is_counted_and_the_error_is_unchanged(
    recorded: tuple[Recorder, Any],
) -> None:
    recorder, api = recorded
    plain = client.ApiClient(client.Configuration(host=api.configuration.host))
    body = {"metadata": {"name": "x"}, "data": {"k": {1, 2}}}
    errors = []
    for target in (api, plain):
        with pytest.raises(TypeError) as raised:
            url = f"{target.configuration.host}/api/v1/namespaces/default/configmaps"
            target.call_api("POST", url, {"Content-Type": "application/json"}, body)
        errors.append(str(raised.value))
    assert errors[0] == errors[1]
    stats = recorder.flush()
    assert stats["failures"] >= 1 and stats["dropped"] >= 1


def test_oversize_bodies_are_replaced_by_a_marker(
    make_recorder: Any, configuration: Any, db: str
) -> None:
    recorder: Recorder = make_recorder(max_object_bytes=300)
    core = client.CoreV1Api(recorder.instrument(client.ApiClient(configuration)))
    core.create_namespaced_config_map("default", {"metadata": {"name": "big"},
                                                  "data": {"k": "x" * 5000}})  # fmt: skip
    fetched = core.read_namespaced_config_map("big", "default")
    recorder.close()
    assert len(fetched.data["k"]) == 5000  # the operator got the whole object
    ops, _, responses = read_ops(db)
    assert [op.verb for op in ops] == ["create", "get"]
    assert responses[1]["kreplay"] == "oversize" and responses[1]["bytes"] > 5000


def test_the_session_cap_truncates_cleanly(make_recorder: Any, configuration: Any, db: str) -> None:
    recorder: Recorder = make_recorder(max_ops=3)
    core = client.CoreV1Api(recorder.instrument(client.ApiClient(configuration)))
    for index in range(6):
        core.create_namespaced_config_map("default", cm(f"c{index}"))
    stats = recorder.close()
    session = open_recording(db).session("s1")
    assert (session.op_count, session.truncated, stats["truncated"]) == (3, True, True)
    assert session.ended_ns is not None


def test_sigkill_keeps_the_file_valid_and_flushed_operations(
    server: RunningServer, db: str
) -> None:
    operator = start_operator(db, "killed", server, 30, "--then-forever")
    assert operator.stdout is not None
    _, written, writer_pid = operator.stdout.readline().split()
    for _ in range(3):  # let it record more, so the kill lands mid-recording
        assert operator.stdout.readline().startswith("progress")
    operator.send_signal(signal.SIGKILL)
    operator.wait()
    wait_for_exit(int(writer_pid))  # it saw end of input, committed, and ended the session
    recording = open_recording(db)
    session = recording.session("killed")
    ops = list(recording.operations("killed"))
    assert session.op_count >= int(written) == 30
    assert [op.seq for op in ops] == list(range(1, len(ops) + 1))
    assert session.ended_ns is not None
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_sigkill_of_operator_and_writer_together(server: RunningServer, db: str) -> None:
    operator = start_operator(db, "both", server, 30, "--then-forever")
    assert operator.stdout is not None
    _, written, writer_pid = operator.stdout.readline().split()
    assert operator.stdout.readline().startswith("progress")
    os.kill(int(writer_pid), signal.SIGKILL)
    operator.send_signal(signal.SIGKILL)
    operator.wait()
    wait_for_exit(int(writer_pid))
    session = open_recording(db).session("both")
    assert session.op_count >= int(written)
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_several_processes_record_to_one_file(server: RunningServer, db: str) -> None:
    sessions = ["replica-a", "replica-b", "replica-c", "shared", "shared"]
    flags = [(), ("--no-close",), (), (), ()]
    operators = [
        start_operator(db, session, server, 40, *flag)
        for session, flag in zip(sessions, flags, strict=True)
    ]
    for operator in operators:
        out, _ = operator.communicate(timeout=120)
        assert operator.returncode == 0 and out.startswith("flushed")
    recording = open_recording(db)
    counts = {info.session_id: info.op_count for info in recording.sessions()}
    assert counts == {"replica-a": 40, "replica-b": 40, "replica-c": 40, "shared": 80}
    seqs = [op.seq for op in recording.operations("shared")]
    assert seqs == list(range(1, 81))
    assert recording.session("replica-b").ended_ns is not None  # closed by atexit


def test_a_batch_over_the_frame_limit_is_sent_one_message_at_a_time(
    make_recorder: Any, configuration: Any, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recorder.capture import messages

    recorder: Recorder = make_recorder()
    core = client.CoreV1Api(recorder.instrument(client.ApiClient(configuration)))
    recorder.flush()  # the writer is configured; now frames may hold only one call each
    monkeypatch.setattr(messages, "MAX_FRAME_BYTES", 1500)
    recorder.disable()
    for index in range(3):
        core.create_namespaced_config_map("default", cm(f"big{index}"))
    recorder.enable()
    for index in range(3):
        core.read_namespaced_config_map(f"big{index}", "default")
    stats = recorder.flush()
    monkeypatch.undo()
    assert (stats["dropped"], stats["failures"], stats["written"]) == (0, 0, 3)
    ops, _, responses = read_ops(db, recorder.session_id)
    assert [op.name for op in ops] == ["big0", "big1", "big2"]
    assert [body["data"] for body in responses] == [cm("x")["data"]] * 3


def test_the_writer_process_only_takes_idle_cpu(make_recorder: Any) -> None:
    recorder: Recorder = make_recorder()
    recorder.flush()  # the writer is up and has set its own policy
    writer = recorder._pipeline._proc
    assert writer is not None
    assert os.sched_getscheduler(writer.pid) == os.SCHED_IDLE


def test_a_read_response_is_freed_without_the_cyclic_gc(
    make_recorder: Any, configuration: Any
) -> None:
    recorder: Recorder = make_recorder()
    core = client.CoreV1Api(recorder.instrument(client.ApiClient(configuration)))
    core.create_namespaced_config_map("default", cm("freed"))
    gc.disable()
    try:
        response = core.read_namespaced_config_map("freed", "default", _preload_content=False)
        assert json.loads(response.read())["metadata"]["name"] == "freed"
        response.release_conn()
        alive = weakref.ref(response)
        del response
        assert alive() is None  # no reference cycle through the tap keeps it
    finally:
        gc.enable()
    recorder.flush()
    assert recorder.stats()["written"] == 2
