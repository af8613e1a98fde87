"""The official ``kubernetes`` Python client against the mock API server over HTTP."""

from __future__ import annotations

import errno
import http.client
import json
import socket
import threading
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from kreplay_dap.apiserver import ClusterState, FakeBackend, RunningServer, start_server
from tests.apiserver.helpers import OPEN_SCHEMA

# The client's models are loosely typed (every field Optional); the tests use it dynamically.
client: Any = kubernetes.client
config: Any = kubernetes.config
watch: Any = kubernetes.watch


def cm(name: str, **data: str) -> Any:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data=data or {"k": "v"})


def test_crud(api_client: Any) -> None:
    core = client.CoreV1Api(api_client)
    created = core.create_namespaced_config_map("default", cm("a", x="1"))
    assert created.metadata.uid and created.metadata.resource_version
    fetched = core.read_namespaced_config_map("a", "default")
    assert fetched.data == {"x": "1"}
    fetched.data["x"] = "2"
    replaced = core.replace_namespaced_config_map("a", "default", fetched)
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    patched = core.patch_namespaced_config_map("a", "default", {"data": {"y": "3"}})
    assert patched.data == {"x": "2", "y": "3"}
    names = [i.metadata.name for i in core.list_namespaced_config_map("default").items]
    assert names == ["a"]
    core.delete_namespaced_config_map("a", "default")
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("a", "default")
    assert missing.value.status == 404


def test_optimistic_concurrency_conflict(api_client: Any) -> None:
    apps = client.AppsV1Api(api_client)
    body = {
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }
    first = apps.create_namespaced_deployment("default", body)
    stale = apps.read_namespaced_deployment("web", "default")
    first.spec.replicas = 2
    apps.replace_namespaced_deployment("web", "default", first)
    stale.spec.replicas = 3
    with pytest.raises(ApiException) as conflict:
        apps.replace_namespaced_deployment("web", "default", stale)
    assert conflict.value.status == 409
    status = json.loads(str(conflict.value.body))
    assert status["reason"] == "Conflict"
    assert "the object has been modified" in status["message"]
    assert apps.read_namespaced_deployment("web", "default").metadata.generation == 2


def test_watch_resumes_from_resource_version(api_client: Any) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map("default", cm("before"))
    listed = core.list_namespaced_config_map("default")
    core.create_namespaced_config_map("default", cm("after"))
    core.delete_namespaced_config_map("before", "default")
    seen: list[tuple[str, str]] = []
    watcher = watch.Watch()
    for event in watcher.stream(core.list_namespaced_config_map, "default",
                                resource_version=listed.metadata.resource_version,
                                timeout_seconds=10):  # fmt: skip
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 2:
            watcher.stop()
    assert seen == [("ADDED", "after"), ("DELETED", "before")]


def test_watch_too_old_resource_version_raises_410(tmp_path: Path) -> None:
    with start_server(FakeBackend(ClusterState(event_log_size=16))) as small:
        configuration = client.Configuration()
        config.load_kube_config(
            small.write_kubeconfig(str(tmp_path / "kc")), client_configuration=configuration
        )
        with client.ApiClient(configuration) as api:
            core = client.CoreV1Api(api)
            for index in range(40):
                core.create_namespaced_config_map("default", cm(f"cm-{index}"))
            events = watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version="2", timeout_seconds=5
            )
            with pytest.raises(ApiException) as gone:
                for _event in events:
                    pass
    assert gone.value.status == 410


def test_custom_resources(api_client: Any) -> None:
    extensions = client.ApiextensionsV1Api(api_client)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "gadgets", "kind": "Gadget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": OPEN_SCHEMA}}]},
    }  # fmt: skip
    extensions.create_custom_resource_definition(crd)
    custom = client.CustomObjectsApi(api_client)
    gadget = {
        "apiVersion": "example.com/v1",
        "kind": "Gadget",
        "metadata": {"name": "g"},
        "spec": {"n": 1},
    }
    custom.create_namespaced_custom_object("example.com", "v1", "default", "gadgets", gadget)
    status = {"status": {"ready": True}}
    custom.patch_namespaced_custom_object_status(
        "example.com", "v1", "default", "gadgets", "g", status
    )
    read = custom.get_namespaced_custom_object("example.com", "v1", "default", "gadgets", "g")
    assert read["status"] == {"ready": True} and read["spec"] == {"n": 1}
    assert read["metadata"]["generation"] == 1


def raw(
    server: RunningServer,
    method: str,
    path: str,
    body: bytes = b"",
    content_type: str = "application/json",
) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_bad_requests_get_status_objects(server: RunningServer) -> None:
    status, body = raw(server, "POST", "/api/v1/namespaces/default/configmaps", b"{oops")
    assert (status, body["kind"], body["reason"]) == (400, "Status", "BadRequest")
    status, body = raw(server, "GET", "/apis/example.com/v1/widgets")
    assert (status, body["reason"]) == (404, "NotFound")
    status, body = raw(server, "GET", "/no/such/path")
    assert (status, body["reason"]) == (404, "NotFound")
    status, body = raw(server, "POST", "/api/v1/namespaces/default/configmaps/x", b"{}")
    assert (status, body["reason"]) == (405, "MethodNotAllowed")


def test_malformed_requests_do_not_kill_the_server(server: RunningServer) -> None:
    garbage = [
        b"\x00\xff garbage\r\n\r\n",
        b"GET\r\n\r\n",
        b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
    ]
    for payload in garbage:
        with socket.create_connection((server.host, server.port), timeout=30) as connection:
            try:
                connection.sendall(payload)
                connection.shutdown(socket.SHUT_WR)
            except OSError as error:  # the server may answer and close before we finish
                assert error.errno in (errno.ENOTCONN, errno.EPIPE, errno.ECONNRESET)
            answer = connection.recv(65_536)
            assert answer.startswith(b"HTTP/1.1 400 Bad Request"), answer
            assert b'"kind":"Status"' in answer
    status, body = raw(server, "GET", "/api/v1/namespaces/default")
    assert (status, body["metadata"]["name"]) == (200, "default")


def test_fifty_concurrent_watchers_each_receive_every_event(
    server: RunningServer, api_client: Any
) -> None:
    core = client.CoreV1Api(api_client)
    since = core.list_namespaced_config_map("default").metadata.resource_version
    events_per_watcher = 100
    received: dict[int, list[str]] = {}
    ready = threading.Barrier(51)

    def watch_all(index: int) -> None:
        configuration = client.Configuration()
        configuration.host = server.url
        with client.ApiClient(configuration) as own:
            listing = client.CoreV1Api(own).list_namespaced_config_map
            names: list[str] = []
            ready.wait()
            stream = watch.Watch().stream(listing, "default", resource_version=since,
                                          timeout_seconds=120, deserialize=False)  # fmt: skip
            for event in stream:
                names.append(event["object"]["metadata"]["name"])
                if len(names) == events_per_watcher:
                    break
            received[index] = names

    threads = [threading.Thread(target=watch_all, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    ready.wait()
    for index in range(events_per_watcher):
        core.create_namespaced_config_map("default", cm(f"cm-{index}"))
    for thread in threads:
        thread.join(timeout=300)
    expected = [f"cm-{i}" for i in range(events_per_watcher)]
    assert len(received) == 50
    assert all(names == expected for names in received.values())


def test_stopped_server_closes_kept_alive_connections() -> None:
    running = start_server(FakeBackend())
    connection = http.client.HTTPConnection(running.host, running.port, timeout=30)
    connection.request("GET", "/version")
    assert connection.getresponse().read()
    running.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        connection.request("GET", "/version")
        connection.getresponse()
    connection.close()
