"""Bodies as the writer parses them: UTF-8 first, other JSON encodings still understood."""

from __future__ import annotations

import json

import pytest

from recorder.capture.convert import Converter
from recorder.capture.decode import parse_json
from recorder.capture.redact import Redactor
from recorder.capture.routes import parse_route

DOCUMENT = {"kind": "ConfigMap", "metadata": {"name": "caf\u00e9"}, "data": {"k": "\u2713"}}


@pytest.mark.parametrize(
    "data",
    [json.dumps(DOCUMENT).encode(), json.dumps(DOCUMENT, ensure_ascii=False).encode(),
     b"\xef\xbb\xbf" + json.dumps(DOCUMENT).encode(), json.dumps(DOCUMENT).encode("utf-16")],
)  # fmt: skip
def test_every_json_encoding_parses_to_the_same_document(data: bytes) -> None:
    assert parse_json(data) == DOCUMENT


@pytest.mark.parametrize("data", [b"", b"{", b"\xff\xfe\x00", b"not json"])
def test_what_is_not_json_is_no_document(data: bytes) -> None:
    assert parse_json(data) is None


def test_watch_events_of_two_streams_keep_their_own_routes() -> None:
    converter = Converter("s", "actor", Redactor(b"key"))
    pods = parse_route("GET", "/api/v1/namespaces/a/pods?watch=1")
    maps = parse_route("GET", "/api/v1/namespaces/b/configmaps?watch=1")
    assert pods is not None and maps is not None
    line = b'{"type":"ADDED","object":{"metadata":{"name":"x","resourceVersion":"7"}}}'
    kinds = []
    for route in (pods, maps, pods):
        op = converter.watch_line(line, 1, route, "t", (), None)
        assert op is not None
        kinds.append((op.kind, op.namespace, op.resource, op.resource_version))
    assert kinds == [("Pod", "a", "pods", "7"), ("ConfigMap", "b", "configmaps", "7"),
                     ("Pod", "a", "pods", "7")]  # fmt: skip
