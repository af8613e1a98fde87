"""Watch parameters as kube-apiserver reads them: timeoutSeconds=0, resourceVersions the
server has not reached, the version of multi-version custom resources; and label selectors
with ``>``/``<``."""

from __future__ import annotations

import json
import shutil
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from kreplay_dap.apiserver import ApiServer, RunningServer, watch
from tests.apiserver.helpers import (
    call,
    configmap,
    custom_resource_definition,
    kubectl,
    stream_events,
)

client: Any = kubernetes.client
config: Any = kubernetes.config
kube_watch: Any = kubernetes.watch
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")

CM = "/api/v1/namespaces/default/configmaps"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


@pytest.fixture
def no_freshness_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail a too-new resourceVersion at once rather than after the watch cache's wait."""
    monkeypatch.setattr(watch, "FRESHNESS_WAIT_SECONDS", 0.0)


def current_version(api: ApiServer) -> int:
    return int(call(api, "GET", CM).decoded()["metadata"]["resourceVersion"])


# -- 4. timeoutSeconds=0 -----------------------------------------------------------------------
def test_timeout_zero_means_the_server_default(api: ApiServer) -> None:
    since = current_version(api)
    response = call(api, "GET", f"{CM}?watch=1&timeoutSeconds=0&resourceVersion={since}")
    call(api, "POST", CM, configmap("after"))
    events = stream_events(response, 1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "after")]


def test_python_client_watch_with_timeout_zero_sees_later_events(api_client: Any) -> None:
    core = client.CoreV1Api(api_client)
    since = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", configmap("after"))
    names = []
    watcher = kube_watch.Watch()
    for event in watcher.stream(core.list_namespaced_config_map, "default",
                                resource_version=since, timeout_seconds=0):  # fmt: skip
        names.append(event["object"].metadata.name)
        watcher.stop()
    assert names == ["after"]


# -- 5. a resourceVersion the server has not reached -------------------------------------------
@pytest.mark.usefixtures("no_freshness_wait")
def test_watch_from_a_future_version_is_too_large(api: ApiServer) -> None:
    current = current_version(api)
    wanted = current + 1_000
    response = call(api, "GET", f"{CM}?watch=1&resourceVersion={wanted}")
    assert response.status == 200  # the error comes as the watch's one event, as in Go
    events = stream_events(response, 2)
    assert [e["type"] for e in events] == ["ERROR"]
    error = events[0]["object"]
    assert (error["code"], error["reason"]) == (504, "Timeout")
    assert error["message"] == f"Timeout: Too large resource version: {wanted}, current: {current}"
    assert error["details"] == {
        "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
        "retryAfterSeconds": 1,
    }


@pytest.mark.usefixtures("no_freshness_wait")
def test_python_client_watch_from_a_future_version_raises(api_client: Any) -> None:
    core = client.CoreV1Api(api_client)
    current = int(core.list_namespaced_config_map("default").metadata.resource_version)
    ahead = str(current + 50)
    stream = kube_watch.Watch().stream(
        core.list_namespaced_config_map, "default", resource_version=ahead, timeout_seconds=5
    )
    with pytest.raises(ApiException) as too_large:
        for _event in stream:
            pass
    assert too_large.value.status == 504


@pytest.mark.usefixtures("no_freshness_wait")
def test_watch_from_a_version_reached_meanwhile_is_served(api: ApiServer) -> None:
    wanted = current_version(api) + 1
    response = call(api, "GET", f"{CM}?watch=1&timeoutSeconds=5&resourceVersion={wanted}")
    call(api, "POST", CM, configmap("first"))  # reaches ``wanted`` before the stream starts
    call(api, "POST", CM, configmap("second"))
    events = stream_events(response, 1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "second")]


# -- 6. multi-version custom resources ---------------------------------------------------------
def test_watch_delivers_every_event_in_the_requested_version(api_client: Any) -> None:
    extensions = client.ApiextensionsV1Api(api_client)
    definition = custom_resource_definition("gadgets", "Gadget", versions=("v1", "v1beta1"))
    extensions.create_custom_resource_definition(definition)
    custom = client.CustomObjectsApi(api_client)
    body = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "old"},
            "spec": {"size": 1}}  # fmt: skip
    custom.create_namespaced_custom_object("example.com", "v1", "default", "gadgets", body)
    watched: list[tuple[str, str, str]] = []
    watcher = kube_watch.Watch()
    stream = watcher.stream(custom.list_namespaced_custom_object, "example.com", "v1beta1",
                            "default", "gadgets", timeout_seconds=10)  # fmt: skip
    for event in stream:
        obj = event["object"]
        watched.append((event["type"], obj["metadata"]["name"], obj["apiVersion"]))
        if len(watched) == 1:  # the initial ADDED arrived: change things now
            new = {**body, "metadata": {"name": "new"}}
            custom.create_namespaced_custom_object("example.com", "v1", "default", "gadgets", new)
            custom.patch_namespaced_custom_object(
                "example.com", "v1", "default", "gadgets", "old", {"spec": {"size": 2}}
            )
        if len(watched) == 3:
            watcher.stop()
    assert watched == [("ADDED", "old", "example.com/v1beta1"),
                       ("ADDED", "new", "example.com/v1beta1"),
                       ("MODIFIED", "old", "example.com/v1beta1")]  # fmt: skip


def test_watch_bookmarks_are_in_the_requested_version(api: ApiServer) -> None:
    definition = custom_resource_definition("gadgets", "Gadget", versions=("v1", "v1beta1"))
    call(api, "POST", CRDS, definition)
    path = "/apis/example.com/v1beta1/namespaces/default/gadgets"
    since = call(api, "GET", path).decoded()["metadata"]["resourceVersion"]
    query = f"watch=1&timeoutSeconds=1&allowWatchBookmarks=true&resourceVersion={since}"
    events = stream_events(call(api, "GET", f"{path}?{query}"), 1)
    assert [(e["type"], e["object"]["apiVersion"]) for e in events] == [
        ("BOOKMARK", "example.com/v1beta1")
    ]


# -- 15. label selectors with > and < ----------------------------------------------------------
def test_greater_and_less_than_label_selectors(api_client: Any) -> None:
    core = client.CoreV1Api(api_client)
    for index in (1, 3, 4, 10):
        labelled = configmap(f"cm-{index}", labels={"idx": str(index)})
        core.create_namespaced_config_map("default", labelled)
    core.create_namespaced_config_map("default", configmap("word", labels={"idx": "ten"}))
    core.create_namespaced_config_map("default", configmap("none"))

    def names(selector: str) -> list[str]:
        listed = core.list_namespaced_config_map("default", label_selector=selector)
        return [i.metadata.name for i in listed.items]

    assert names("idx>3") == ["cm-10", "cm-4"]
    assert names("idx<3") == ["cm-1"]
    assert names("idx>1,idx<10") == ["cm-3", "cm-4"]
    with pytest.raises(ApiException) as refused:
        names("idx>three")
    assert refused.value.status == 400
    assert "for 'Gt', 'Lt' operators, the value must be an integer" in str(refused.value.body)


@needs_kubectl
def test_kubectl_label_selector_greater_than(kubeconfig: str, server: RunningServer) -> None:
    api = server.api
    for index in (2, 5):
        call(api, "POST", CM, configmap(f"cm-{index}", labels={"idx": str(index)}))
    listed = kubectl(kubeconfig, "get", "configmaps", "-l", "idx>3", "-o", "json").stdout
    assert [i["metadata"]["name"] for i in json.loads(listed)["items"]] == ["cm-5"]
