"""Bodies as the writer parses them: UTF-8 first, other JSON encodings still understood."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.capture import messages as m
from recorder.capture.convert import Converter
from recorder.capture.decode import identity_fields, parse_json
from recorder.capture.redact import Redactor
from recorder.capture.routes import parse_route
from recorder.capture.sink import Sink, SinkConfig
from recorder.storage import open_recording

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


# The writer's fast paths read only kind, apiVersion and metadata and keep the bytes as
# they arrived; a converter with a redaction path (one that matches nothing) takes the
# whole-parse path, so both must build the same operation.
POD = {"kind": "Pod", "apiVersion": "v1",
       "metadata": {"name": "p", "namespace": "a", "uid": "u1", "resourceVersion": "9",
                    "generation": 3, "labels": {"x": "<&>"}},
       "spec": {"containers": [{"name": "c", "image": "i"}]},
       "status": {"phase": "Running"}}  # fmt: skip
WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget",
          "metadata": {"name": "w", "namespace": "a", "resourceVersion": "4"},
          "spec": {"n": 1}}  # fmt: skip
# Over 2 KB of object: the fast path walks metadata, stopping after the last field read
# when the keys come in Go's order.
MANAGED = [{"manager": f"m{index}", "operation": "Update", "fieldsV1": {"f:spec": {}}}
           for index in range(40)]  # fmt: skip
BIG_POD: dict[str, Any] = {"kind": "Pod", "apiVersion": "v1",
           "metadata": {"name": "p", "generateName": "p-", "namespace": "a", "uid": "u1",
                        "resourceVersion": "9", "generation": 3, "creationTimestamp": "t",
                        "labels": {"x": "y"}, "managedFields": MANAGED},
           "spec": {}}  # fmt: skip
SORTED_METADATA = dict(sorted(BIG_POD["metadata"].items()))
SORTED_WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": SORTED_METADATA,
                 "spec": {"n": 1}}  # fmt: skip
NAMELESS = {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"namespace": "a", "creationTimestamp": "t", "managedFields": MANAGED,
                         "name": "late", "uid": "u2"}}  # fmt: skip
UNKNOWN_KEY = {"kind": "Pod", "apiVersion": "v1",
               "metadata": {"name": "p", "zone": "z", "managedFields": MANAGED, "uid": "u3",
                            "resourceVersion": "11"}}  # fmt: skip
SHAPES = [
    json.dumps(POD, separators=(",", ":")),  # the API server's compact typed order
    json.dumps(BIG_POD, separators=(",", ":")),  # Go's order: the walk stops early
    json.dumps(SORTED_WIDGET, separators=(",", ":")),  # unstructured: sorted keys, read whole
    json.dumps(NAMELESS, separators=(",", ":")),  # name after the stop point
    json.dumps(UNKNOWN_KEY, separators=(",", ":")),  # a key Go's ObjectMeta has not
    json.dumps(WIDGET, separators=(",", ":")),  # custom objects: keys in order
    json.dumps(POD),  # spaces: the walk
    json.dumps({"spec": {"kind": "Other"}, **POD}, separators=(",", ":")),  # late identity
    json.dumps(POD, separators=(",", ":")).replace('"Pod"', '"P\\u006fd"'),  # escaped
    json.dumps({"metadata": {"name": "only"}}),
    "{}",
]


def _both_paths() -> tuple[Converter, Converter]:
    return (Converter("s", "actor", Redactor(b"key")),
            Converter("s", "actor", Redactor(b"key", (("no", "such", "field"),))))  # fmt: skip


def _fields(op: Any) -> dict[str, Any]:
    assert op is not None
    return {name: getattr(op, name) for name in op.__dataclass_fields__}


@pytest.mark.parametrize("text", SHAPES)
def test_a_watch_event_reads_the_same_on_both_paths(text: str) -> None:
    route = parse_route("GET", "/api/v1/namespaces/a/pods?watch=1")
    assert route is not None
    line = b'{"type":"MODIFIED","object":' + text.encode() + b"}"
    fast, whole = (c.watch_line(line, 5, route, "t", (), None) for c in _both_paths())
    assert _fields(fast) == _fields(whole)
    assert json.loads(_fields(fast)["response_body"]) == json.loads(text)


@pytest.mark.parametrize("text", SHAPES)
def test_a_call_reads_the_same_on_both_paths(text: str) -> None:
    url = "/api/v1/namespaces/a/pods/p"
    message = (1, 7, 30, "GET", url, "", None, 200, "OK", text.encode(), "", "", "t",
               (("op.py", 3, "reconcile"),), 0)  # fmt: skip
    fast, whole = (c.call(message, None) for c in _both_paths())
    assert _fields(fast) == _fields(whole)
    assert fast is not None and fast.response_body == text.encode()


@pytest.mark.parametrize(
    "kind",
    ['"Secret"', '"S\\u0065cret"'],  # also spelled with an escape
)
def test_a_secret_in_a_stream_of_another_resource_is_still_redacted(kind: str) -> None:
    converter = Converter("s", "actor", Redactor(b"key"))
    route = parse_route("GET", "/apis/example.com/v1/namespaces/a/widgets?watch=1")
    assert route is not None
    obj = '{"kind":' + kind + ',"apiVersion":"v1","metadata":{"name":"s"},"data":{"k":"cGxhaW4="}}'
    line = b'{"type":"ADDED","object":' + obj.encode() + b"}"
    op = converter.watch_line(line, 5, route, "t", (), None)
    assert op is not None and op.response_body is not None
    assert b"cGxhaW4=" not in op.response_body
    assert json.loads(op.response_body)["data"]["k"].startswith("<redacted ")


@pytest.mark.parametrize("text", ["[1]", '{"kind":"Pod",', '{"kind" "Pod"}', '"text"'])
def test_a_body_that_is_not_an_object_is_not_read_on_the_fast_path(text: str) -> None:
    assert identity_fields(text.encode()) is None


def test_one_call_site_tuple_per_site() -> None:
    converter = Converter("s", "actor", Redactor(b"key"))
    ops = []
    for _ in range(2):  # the writer gets an equal, new tuple for each call
        site = (("op.py", 3, "reconcile"),)
        message = (1, 7, 30, "GET", "/api/v1/namespaces/a/pods/p", "", None, 200, "OK",
                   b"{}", "", "", "t", site, 0)  # fmt: skip
        ops.append(converter.call(message, None))
    assert ops[0] is not None and ops[1] is not None
    assert ops[0].call_site is ops[1].call_site
    assert ops[0].call_site[0].function == "reconcile"


_META_KEYS = ["name", "generateName", "namespace", "uid", "resourceVersion", "generation",
              "creationTimestamp", "labels", "annotations", "managedFields", "zone"]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(keys=st.permutations(_META_KEYS), size=st.integers(0, 60), kind=st.sampled_from(
    [("Pod", "v1"), ("Widget", "example.com/v1")]))  # fmt: skip
def test_a_call_reads_the_same_on_both_paths_whatever_the_metadata_order(
    keys: list[str], size: int, kind: tuple[str, str]
) -> None:
    values: dict[str, Any] = {"name": "n", "generateName": "n-", "namespace": "a", "uid": "u",
                              "resourceVersion": "5", "generation": 2, "creationTimestamp": "t",
                              "labels": {"l": "v"}, "annotations": {"a": "b" * size * 10},
                              "managedFields": MANAGED[:size], "zone": "z"}  # fmt: skip
    metadata = {key: values[key] for key in keys}
    head = {"kind": kind[0], "apiVersion": kind[1]} if kind[0] == "Pod" else {
        "apiVersion": kind[1], "kind": kind[0]}  # fmt: skip
    text = json.dumps({**head, "metadata": metadata, "spec": {}}, separators=(",", ":"))
    message = (1, 7, 30, "GET", "/api/v1/namespaces/a/pods/n", "", None, 200, "OK",
               text.encode(), "", "", "t", (("op.py", 3, "reconcile"),), 0)  # fmt: skip
    fast, whole = (c.call(message, None) for c in _both_paths())
    assert _fields(fast) == _fields(whole)
    assert fast is not None and (fast.name, fast.uid, fast.generation) == ("n", "u", 2)


def test_a_body_nested_past_the_parsers_depth_is_kept_and_the_writer_goes_on(
    tmp_path: Path,
) -> None:
    """json's C parser raises RecursionError, not ValueError, past its depth: the writer
    process must neither die of it nor lose the call (a CR may nest that deep)."""
    deep = ('{"kind":"Widget","apiVersion":"example.com/v1","metadata":{"labels":'
            + "[" * 50_000 + "]" * 50_000 + ',"name":"w"}}').encode()  # fmt: skip
    site = (("op.py", 3, "reconcile"),)
    url = "http://h/apis/example.com/v1/namespaces/a/widgets/"
    calls = [(m.CALL, 7 + index, 30, "GET", url + name, "", None, 200, "OK", body, "", "",
              "t", site, 0) for index, (name, body) in enumerate(
                  [("w", deep), ("x", b'{"kind":"Widget","metadata":{"name":"x"}}')])]  # fmt: skip
    path = str(tmp_path / "deep.db")
    sink = Sink(SinkConfig(path=path, session_id="s1", redaction_key="00" * 32))
    sink.handle([*calls, (m.END, 99)])
    recording = open_recording(path)
    ops = list(recording.operations("s1"))
    assert [(op.name, op.kind) for op in ops] == [("w", "Widget"), ("x", "Widget")]
    assert recording.body(ops[0].response_ref) == deep
    assert recording.body_json(ops[0].response_ref) is None  # replay shows it unparsed
    recording.close()
