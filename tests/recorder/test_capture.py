"""The recording matches what the official client sent and received, verb by verb."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from recorder import Recorder
from tests.recorder.helpers import read_ops

client: Any = kubernetes.client
dynamic: Any = kubernetes.dynamic
watch: Any = kubernetes.watch


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"app": "w"}}, "data": data or {"k": "v"}}


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }


def test_every_verb_of_the_typed_api_is_recorded(recorded: tuple[Recorder, Any], db: str) -> None:
    recorder, api = recorded
    core = client.CoreV1Api(api)
    created = core.create_namespaced_config_map("default", cm("a", x="1"))
    fetched = core.read_namespaced_config_map("a", "default")
    listed = core.list_namespaced_config_map("default", label_selector="app=w")
    fetched.data["x"] = "2"
    replaced = core.replace_namespaced_config_map("a", "default", fetched)
    patched = core.patch_namespaced_config_map("a", "default", {"data": {"y": "3"}})
    core.delete_namespaced_config_map("a", "default")
    core.create_namespaced_config_map("default", cm("b"))
    core.delete_collection_namespaced_config_map("default")
    recorder.close()

    ops, requests, responses = read_ops(db)
    verbs = [op.verb for op in ops]
    assert verbs == ["create", "get", "list", "update", "patch", "delete", "create",
                     "deletecollection"]  # fmt: skip
    assert all(op.kind == "ConfigMap" and op.namespace == "default" for op in ops)
    assert all(op.api_version == "v1" and op.resource == "configmaps" for op in ops)
    assert [op.name for op in ops[:6]] == ["a", "a", "", "a", "a", "a"]
    assert requests[0] == cm("a", x="1")
    assert requests[4] == {"data": {"y": "3"}} and ops[4].patch_type == "strategic"
    assert requests[3]["data"] == {"x": "2"}
    for op, returned in zip(ops, [created, fetched, None, replaced, patched], strict=False):
        if returned is not None:
            assert op.uid == returned.metadata.uid
            assert op.resource_version == returned.metadata.resource_version
    assert responses[2]["items"][0]["metadata"]["name"] == "a"
    assert ops[2].resource_version == listed.metadata.resource_version
    assert responses[1] == api.sanitize_for_serialization(fetched) | responses[1]
    assert [op.status_code for op in ops] == [201, 200, 200, 200, 200, 200, 201, 200]
    assert all(op.actor == "test-operator" and op.thread == "MainThread" for op in ops)
    assert all(op.duration_us > 0 and op.ts_ns > 0 for op in ops)
    assert [op.seq for op in ops] == list(range(1, 9))


def test_other_groups_and_subresources(recorded: tuple[Recorder, Any], db: str) -> None:
    recorder, api = recorded
    apps = client.AppsV1Api(api)
    made = apps.create_namespaced_deployment("default", deployment("web"))
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 3}})
    apps.patch_namespaced_deployment_status("web", "default", {"status": {"replicas": 3}})
    namespaces = client.CoreV1Api(api).list_namespace()
    recorder.close()

    ops, _, _ = read_ops(db)
    assert [(op.verb, op.kind, op.subresource) for op in ops] == [
        ("create", "Deployment", ""),
        ("patch", "Scale", "scale"),
        ("patch", "Deployment", "status"),
        ("list", "Namespace", ""),
    ]
    assert ops[0].api_version == "apps/v1" and ops[0].uid == made.metadata.uid
    assert ops[0].generation == made.metadata.generation
    assert ops[1].name == "web" and ops[1].resource == "deployments"
    assert (
        ops[3].namespace == "" and ops[3].resource_version == namespaces.metadata.resource_version
    )


def test_errors_carry_the_decoded_status(recorded: tuple[Recorder, Any], db: str) -> None:
    recorder, api = recorded
    core = client.CoreV1Api(api)
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("nope", "default")
    core.create_namespaced_config_map("default", cm("dup"))
    with pytest.raises(ApiException) as conflict:
        core.create_namespaced_config_map("default", cm("dup"))
    recorder.close()

    ops, _, responses = read_ops(db)
    not_found, _, already = ops
    assert missing.value.status == 404 and conflict.value.status == 409
    assert (not_found.verb, not_found.kind, not_found.name) == ("get", "ConfigMap", "nope")
    assert (not_found.status_code, not_found.error_code) == (404, 404)
    assert not_found.error_reason == "NotFound"
    assert not_found.error_message == responses[0]["message"]
    assert '"nope"' in not_found.error_message
    assert (already.verb, already.error_code, already.error_reason) == (
        "create", 409, "AlreadyExists",
    )  # fmt: skip
    assert already.is_error and not ops[1].is_error
    assert (already.name, already.namespace) == ("dup", "default")  # from the object sent


def test_creates_answered_without_the_object_are_named_by_the_request(
    make_recorder: Any, configuration: Any, db: str
) -> None:
    recorder: Recorder = make_recorder(max_object_bytes=4096)
    core = client.CoreV1Api(recorder.instrument(client.ApiClient(configuration)))
    with pytest.raises(ApiException) as invalid:
        core.create_namespaced_config_map("default", cm("Not_A_Valid_Name"))
    big = {"metadata": {"name": "big"}, "data": {"blob": "x" * 8192}}
    core.create_namespaced_config_map("default", big)
    core.read_namespaced_config_map("big", "default")
    recorder.close()

    refused, created, read = read_ops(db)[0]
    assert invalid.value.status == 422
    assert (refused.verb, refused.name, refused.error_code) == ("create", "Not_A_Valid_Name", 422)
    assert (created.name, created.namespace, created.kind) == ("big", "default", "ConfigMap")
    assert (read.name, read.namespace) == ("big", "default")  # the same object


def test_a_connection_failure_is_recorded_and_reraised(make_recorder: Any, db: str) -> None:
    recorder = make_recorder()
    unreachable = client.Configuration(host="http://127.0.0.1:9")
    unreachable.retries = False
    core = client.CoreV1Api(recorder.instrument(client.ApiClient(unreachable)))
    plain = client.CoreV1Api(client.ApiClient(unreachable))
    with pytest.raises(Exception) as recorded_error:
        core.read_namespaced_pod("p", "default")
    with pytest.raises(Exception) as plain_error:
        plain.read_namespaced_pod("p", "default")
    assert type(recorded_error.value) is type(plain_error.value)
    recorder.close()
    (op,) = read_ops(db)[0]
    assert (op.verb, op.kind, op.name, op.status_code) == ("get", "Pod", "p", 0)
    assert op.error_reason == type(plain_error.value).__name__


WIDGET_SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}


def test_custom_objects_and_the_dynamic_client(
    recorded: tuple[Recorder, Any], db: str, tmp_path: Path
) -> None:
    recorder, api = recorded
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": WIDGET_SCHEMA}}]},
    }  # fmt: skip
    client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)
    custom = client.CustomObjectsApi(api)
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"},
              "spec": {"size": 1}}  # fmt: skip
    custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget)
    custom.patch_namespaced_custom_object_status(
        "example.com", "v1", "default", "widgets", "w1", {"status": {"ready": True}}
    )
    dyn = dynamic.DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))
    widgets = dyn.resources.get(api_version="example.com/v1", kind="Widget")
    got = widgets.get(name="w1", namespace="default")
    with pytest.raises(dynamic.exceptions.NotFoundError):
        widgets.get(name="w2", namespace="default")
    recorder.close()

    ops, requests, responses = read_ops(db)  # discovery requests are not resource operations
    assert [(op.verb, op.kind, op.name, op.subresource) for op in ops] == [
        ("create", "CustomResourceDefinition", "widgets.example.com", ""),
        ("create", "Widget", "w1", ""),
        ("patch", "Widget", "w1", "status"),
        ("get", "Widget", "w1", ""),
        ("get", "Widget", "w2", ""),
    ]
    assert ops[1].api_version == "example.com/v1" and requests[1] == widget
    assert ops[2].patch_type == "merge"
    assert responses[3]["status"] == {"ready": True}
    assert ops[3].resource_version == got.metadata.resourceVersion
    assert (ops[4].error_code, ops[4].error_reason) == (404, "NotFound")


def test_watch_events_typed_and_raw(recorded: tuple[Recorder, Any], db: str) -> None:
    recorder, api = recorded
    core = client.CoreV1Api(api)
    start = core.list_namespaced_config_map("default").metadata.resource_version
    for name in ("a", "b"):
        core.create_namespaced_config_map("default", cm(name))
    core.patch_namespaced_config_map("a", "default", {"data": {"k": "changed"}})
    core.delete_namespaced_config_map("b", "default")
    seen: list[tuple[str, str, str, Any]] = []
    for deserialize in (True, False):
        watcher = watch.Watch()
        events = watcher.stream(core.list_namespaced_config_map, "default",
                                resource_version=start, timeout_seconds=5,
                                deserialize=deserialize)  # fmt: skip
        for count, event in enumerate(events, start=1):
            meta = event["raw_object"]["metadata"] if deserialize else event["object"]["metadata"]
            body = event["raw_object"] if deserialize else event["object"]
            seen.append((event["type"], meta["name"], meta["resourceVersion"], body))
            if count == 4:
                watcher.stop()
    recorder.close()

    ops, _, responses = read_ops(db)
    watched = [(op, body) for op, body in zip(ops, responses, strict=True) if op.verb == "watch"]
    assert len(watched) == len(seen) == 8
    for (op, body), (kind, name, rv, obj) in zip(watched, seen, strict=True):
        assert (op.event_type, op.name, op.resource_version) == (kind, name, rv)
        assert (op.kind, op.namespace, op.resource) == ("ConfigMap", "default", "configmaps")
        assert body == obj
    assert [op.event_type for op, _ in watched[:4]] == ["ADDED", "ADDED", "MODIFIED", "DELETED"]


def test_call_site_thread_and_spans(recorded: tuple[Recorder, Any], db: str) -> None:
    recorder, api = recorded
    core = client.CoreV1Api(api)

    def reconcile_in_a_worker() -> None:
        with recorder.reconcile("ConfigMap", "default", "a", trigger="watch ADDED rv=1"):
            core.create_namespaced_config_map("default", cm("a"))
            core.read_namespaced_config_map("a", "default")

    worker = threading.Thread(target=reconcile_in_a_worker, name="worker-1")
    worker.start()
    worker.join()
    with pytest.raises(ApiException), recorder.reconcile("ConfigMap", "default", "zz"):
        core.read_namespaced_config_map("zz", "default")
    core.list_namespaced_config_map("default")
    recorder.close()

    ops, _, _ = read_ops(db)
    first, second, failed, outside = ops
    assert first.thread == second.thread == "worker-1"
    assert first.call_site[0].file == __file__
    assert first.call_site[0].function == "reconcile_in_a_worker"
    assert outside.call_site[0].function == "test_call_site_thread_and_spans"
    assert first.span_id == second.span_id and first.span_id is not None
    assert failed.span_id not in (None, first.span_id) and outside.span_id is None
    from recorder.storage import open_recording

    recording = open_recording(db)
    spans = {span.span_id: span for span in recording.spans("s1")}
    recording.close()
    ok, bad = spans[first.span_id], spans[failed.span_id or 0]
    assert (ok.trigger, ok.thread, ok.start_seq, ok.end_seq, ok.error) == (
        "watch ADDED rv=1", "worker-1", first.seq, second.seq, "",
    )  # fmt: skip
    assert bad.error == "NotFoundException: (404) Not Found" and bad.end_ns is not None


def test_disable_and_enable(recorded: tuple[Recorder, Any], db: str) -> None:
    recorder, api = recorded
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map("default", cm("a"))
    recorder.disable()
    core.read_namespaced_config_map("a", "default")
    recorder.enable()
    core.delete_namespaced_config_map("a", "default")
    recorder.close()
    assert [op.verb for op in read_ops(db)[0]] == ["create", "delete"]


def test_the_go_style_facade(configuration: Any, db: str) -> None:
    from recorder import Config, RecordingClient

    facade = RecordingClient(
        Config(client=client.ApiClient(configuration), database=db, session_id="s1",
               max_sequence=100)
    )  # fmt: skip
    try:
        created = facade.record_create("ConfigMap", "default", cm("a"))
        got = facade.record_get("ConfigMap", "default", "a")
        facade.disable()
        facade.record_list("ConfigMap", "default")
        facade.enable()
        got["data"]["k"] = "v2"
        facade.record_update("ConfigMap", "default", "a", got)
        facade.record_delete("ConfigMap", "default", "a")
        with pytest.raises(ApiException):
            facade.record_get("ConfigMap", "default", "a")
    finally:
        facade.close()
    ops, _, _ = read_ops(db)
    assert [op.verb for op in ops] == ["create", "get", "update", "delete", "get"]
    assert ops[0].uid == created["metadata"]["uid"] and ops[4].error_code == 404


def test_an_unread_raw_response_is_recorded_in_order(
    recorded: tuple[Recorder, Any], db: str
) -> None:
    """``_preload_content=False`` answers the caller never reads still become operations,
    in call order (an operator installing its CRD often ignores the answer)."""
    recorder, api = recorded
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "gadgets", "kind": "Gadget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": WIDGET_SCHEMA}}]},
    }  # fmt: skip
    extensions = client.ApiextensionsV1Api(api)
    extensions.create_custom_resource_definition(crd, _preload_content=False)  # never read
    client.CoreV1Api(api).list_namespaced_config_map("default")
    extensions.delete_custom_resource_definition("gadgets.example.com", _preload_content=False)
    recorder.close()

    ops, _, _ = read_ops(db)
    assert [(op.verb, op.kind, op.status_code) for op in ops] == [
        ("create", "CustomResourceDefinition", 201),
        ("list", "ConfigMap", 200),
        ("delete", "CustomResourceDefinition", 200),
    ]
