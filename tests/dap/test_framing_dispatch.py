"""Framing, dispatch and launch validation in process; the server loop over OS pipes."""

from __future__ import annotations

import io
import json
import os
import threading
from typing import Any

import pytest

from kreplay_dap.dap.dispatch import Output, dispatch
from kreplay_dap.dap.framing import MAX_FRAME_BYTES, FrameError, FrameReader, encode_frame
from kreplay_dap.dap.launch import load_schema, parse_launch
from kreplay_dap.dap.present import redact
from kreplay_dap.dap.server import serve
from kreplay_dap.dap.session import DebugSession
from recorder.errors import InvalidInputError


def frames(data: bytes) -> list[dict[str, Any] | str]:
    reader = FrameReader(io.BytesIO(data))
    result: list[dict[str, Any] | str] = []
    for _ in range(100):
        try:
            message = reader.read()
        except FrameError as error:
            result.append(f"error:{error.recoverable}")
            if not error.recoverable:
                break
            continue
        if message is None:
            break
        result.append(message)
    return result


def test_frames_round_trip_and_bad_frames_keep_the_stream_in_sync() -> None:
    good = encode_frame({"seq": 1, "type": "request", "command": "threads"})
    data = good + b"Content-Length: 5\r\n\r\n{nope" + b"X-Thing\r\n\r\n" + b"\r\n" + good
    assert frames(data) == [
        json.loads(good.split(b"\r\n\r\n")[1]),
        "error:True",
        "error:True",
        json.loads(good.split(b"\r\n\r\n")[1]),
    ]


def test_oversized_or_truncated_frames_are_refused() -> None:
    # Refused at once (recoverable); the end of input inside the dropped body is fatal.
    oversized = b"Content-Length: %d\r\n\r\n" % (MAX_FRAME_BYTES + 1)
    assert frames(oversized) == ["error:True", "error:False"]
    assert frames(b"Content-Length: 10\r\n\r\n{}") == ["error:False"]
    assert frames(b"Content-Length: 1\r\n") == ["error:False"]


GOOD = {"seq": 7, "type": "request", "command": "threads"}


def test_an_oversized_body_is_dropped_and_the_next_frame_read() -> None:
    size = MAX_FRAME_BYTES + 5
    data = b"Content-Length: %d\r\n\r\n" % size + b"x" * size + encode_frame(GOOD)
    stream = io.BytesIO(data)
    reader = FrameReader(stream)
    with pytest.raises(FrameError, match="exceeds") as refused:
        reader.read()
    assert refused.value.recoverable and stream.tell() < 100  # reported before the body
    assert reader.read() == GOOD
    assert reader.read() is None


def test_a_frame_without_content_length_resynchronises_on_the_next_header() -> None:
    unframed = json.dumps({"seq": 90, "type": "request", "command": "threads"}).encode()
    data = b"X-Foo: 1\r\n\r\n" + unframed + encode_frame(GOOD) + encode_frame(GOOD)
    assert frames(data) == ["error:True", "error:True", GOOD, GOOD]
    pretty = json.dumps(GOOD, indent=2).encode().replace(b"\n", b"\r\n")
    data = b"Content-Type: x\r\n\r\n" + pretty + b"\r\n" + encode_frame(GOOD)
    assert frames(data) == ["error:True", "error:True", GOOD]
    long_garbage = b"z" * 5000  # read in pieces; the header may straddle two of them
    for cut in range(1020, 1040):
        glued = b"\r\n\r\n" + long_garbage[:cut] + encode_frame(GOOD)
        assert frames(b"X: 1" + glued)[-1] == GOOD


def test_a_bad_header_beside_a_good_length_drops_only_that_frame() -> None:
    bad = b"Content-Length: 2\r\nnot a header\r\n\r\n{}"
    assert frames(bad + encode_frame(GOOD)) == ["error:True", GOOD]
    unbelievable = b"Content-Length: 99999999999999999999\r\n\r\n"
    assert frames(unbelievable + encode_frame(GOOD)) == ["error:True", GOOD]


def run_dispatch(message: dict[str, Any]) -> list[dict[str, Any]]:
    sink = io.BytesIO()
    output = Output(sink)
    dispatch(DebugSession(output), output, message)
    return [m for m in frames(sink.getvalue()) if isinstance(m, dict)]


def test_dispatch_answers_errors_with_a_message() -> None:
    (unknown,) = run_dispatch({"seq": 3, "type": "request", "command": "fly"})
    assert unknown["success"] is False and unknown["request_seq"] == 3
    assert unknown["body"]["error"]["format"] == "unsupported request 'fly'"
    (bad_args,) = run_dispatch({"seq": 4, "type": "request", "command": "next", "arguments": 5})
    assert "'arguments' must be an object" in bad_args["message"]
    (dropped,) = run_dispatch({"type": "event"})
    assert dropped["event"] == "output"


def test_initialize_then_initialized_event_order() -> None:
    messages = run_dispatch({"seq": 1, "type": "request", "command": "initialize", "arguments": {}})
    assert [m["type"] for m in messages] == ["response", "event"]
    assert messages[0]["body"]["supportsStepBack"] is True


def test_server_loop_over_pipes_ends_at_end_of_input() -> None:
    in_read, in_write = os.pipe()
    out_read, out_write = os.pipe()
    with os.fdopen(in_read, "rb") as reader, os.fdopen(out_write, "wb") as writer:
        result: list[int] = []
        server = threading.Thread(target=lambda: result.append(serve(reader, writer)))
        server.start()
        with os.fdopen(in_write, "wb") as client:
            client.write(encode_frame({"seq": 1, "type": "request", "command": "threads"}))
        server.join(timeout=30)
    with os.fdopen(out_read, "rb") as replies:
        (answer,) = frames(replies.read())
    assert isinstance(answer, dict)
    assert result == [0] and answer["success"] is True and answer["body"] == {"threads": []}


def test_launch_schema_is_valid_and_agrees_with_the_validator(tmp_path: Any) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = load_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    good = {
        "database": "x.db",
        "loopDetection": {"enabled": True, "minRepeats": 3},
        "pathMappings": [{"localRoot": "/a", "remoteRoot": "/b"}],
        "type": "kreplay",
    }
    assert parse_launch(good).path_mappings == [("/a", "/b")]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"database": 1}, "database"),
        ({"database": "x", "slowThresholdMs": 0}, "slowThresholdMs"),
        ({"database": "x", "loopDetection": {"minRepeat": 3}}, "loopDetection.minRepeat"),
        ({}, "database"),
    ]
    for bad, name in cases:
        with pytest.raises(InvalidInputError, match=name.replace(".", r"\.")):
            parse_launch(bad)
        assert not jsonschema.Draft7Validator(schema).is_valid(bad)


def test_secrets_are_redacted_for_display() -> None:
    secret: dict[str, Any] = {
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"password": "aHVudGVyMg=="},
    }
    assert redact("Secret", secret)["data"] == {"password": "<redacted>"}
    assert secret["data"]["password"] == "aHVudGVyMg=="


def test_launch_without_session_lists_the_sessions_when_there_are_several(tmp_path: Any) -> None:
    from recorder.storage import Operation, RecordingWriter, SessionInfo

    path = tmp_path / "two.db"
    with RecordingWriter(str(path)) as writer:
        for name in ("first", "second"):
            writer.begin_session(SessionInfo(name))
            writer.append([Operation(name, 0, 1, "get", kind="Pod", name="p", status_code=200)])
    request = {
        "seq": 2,
        "type": "request",
        "command": "launch",
        "arguments": {"database": str(path)},
    }
    (answer,) = run_dispatch(request)
    assert answer["success"] is False
    assert "first" in answer["message"] and "second" in answer["message"]
    request["arguments"] = {"database": str(path), "session": "second"}
    (answer,) = run_dispatch(request)
    assert answer["success"] is True
