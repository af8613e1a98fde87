"""The pure resolver, without sockets: CRUD, consistency rules, lists, errors, watches."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kreplay_dap.apiserver import ApiServer, ClusterState, FakeBackend
from kreplay_dap.apiserver.watch import encode_event
from tests.apiserver.helpers import call, configmap, deployment

CM = "/api/v1/namespaces/default/configmaps"
DEPLOY = "/apis/apps/v1/namespaces/default/deployments"


@pytest.fixture
def api() -> ApiServer:
    return ApiServer(FakeBackend(ClusterState(event_log_size=32)))


def created(api: ApiServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = call(api, "POST", path, body)
    assert response.status == 201, response.body
    result: dict[str, Any] = response.decoded()
    return result


def status_of(response: Any) -> tuple[int, str, str]:
    body = response.decoded()
    assert body["kind"] == "Status"
    return body["code"], body["reason"], body["message"]


def test_discovery_documents(api: ApiServer) -> None:
    assert call(api, "GET", "/version").decoded()["major"] == "1"
    assert call(api, "GET", "/api").decoded()["versions"] == ["v1"]
    groups = {g["name"] for g in call(api, "GET", "/apis").decoded()["groups"]}
    assert {"apps", "batch", "coordination.k8s.io", "apiextensions.k8s.io"} <= groups
    core = {r["name"] for r in call(api, "GET", "/api/v1").decoded()["resources"]}
    assert {"pods", "pods/status", "configmaps", "namespaces", "events", "secrets"} <= core
    apps = call(api, "GET", "/apis/apps/v1").decoded()["resources"]
    scale = next(r for r in apps if r["name"] == "deployments/scale")
    assert (scale["group"], scale["kind"]) == ("autoscaling", "Scale")
    assert call(api, "GET", "/apis/apps").decoded()["preferredVersion"]["version"] == "v1"


def test_default_namespace_exists(api: ApiServer) -> None:
    body = call(api, "GET", "/api/v1/namespaces/default").decoded()
    assert body["status"]["phase"] == "Active"


def test_create_sets_server_fields_and_get_returns_them(api: ApiServer) -> None:
    obj = created(api, DEPLOY, deployment("web"))
    metadata = obj["metadata"]
    assert metadata["uid"] and metadata["creationTimestamp"].endswith("Z")
    assert metadata["generation"] == 1 and metadata["namespace"] == "default"
    assert call(api, "GET", f"{DEPLOY}/web").decoded() == obj


def test_resource_versions_are_one_increasing_counter(api: ApiServer) -> None:
    first = created(api, CM, configmap("a"))
    second = created(api, DEPLOY, deployment("b"))
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    listed = call(api, "GET", CM).decoded()
    assert int(listed["metadata"]["resourceVersion"]) >= int(second["metadata"]["resourceVersion"])


def test_create_twice_is_already_exists(api: ApiServer) -> None:
    created(api, DEPLOY, deployment("web"))
    code, reason, message = status_of(call(api, "POST", DEPLOY, deployment("web")))
    assert (code, reason) == (409, "AlreadyExists")
    assert message == 'deployments.apps "web" already exists'


def test_get_missing_is_not_found_with_real_text(api: ApiServer) -> None:
    code, reason, message = status_of(call(api, "GET", f"{DEPLOY}/web"))
    assert (code, reason, message) == (404, "NotFound", 'deployments.apps "web" not found')


def test_stale_update_conflicts_with_real_text(api: ApiServer) -> None:
    obj = created(api, DEPLOY, deployment("web"))
    obj["spec"]["replicas"] = 2
    assert call(api, "PUT", f"{DEPLOY}/web", obj).status == 200
    obj["spec"]["replicas"] = 3
    code, reason, message = status_of(call(api, "PUT", f"{DEPLOY}/web", obj))
    assert (code, reason) == (409, "Conflict")
    assert message == (
        'Operation cannot be fulfilled on deployments.apps "web": the object has been modified;'
        " please apply your changes to the latest version and try again"
    )


def test_generation_bumps_only_on_spec_change(api: ApiServer) -> None:
    obj = created(api, DEPLOY, deployment("web"))
    obj["metadata"]["labels"]["extra"] = "yes"
    relabeled = call(api, "PUT", f"{DEPLOY}/web", obj).decoded()
    assert relabeled["metadata"]["generation"] == 1
    relabeled["spec"]["replicas"] = 5
    rescaled = call(api, "PUT", f"{DEPLOY}/web", relabeled).decoded()
    assert rescaled["metadata"]["generation"] == 2


def test_status_subresource_is_separate_from_spec(api: ApiServer) -> None:
    obj = created(api, DEPLOY, {**deployment("web"), "status": {"replicas": 9}})
    assert "status" not in obj
    obj["status"] = {"readyReplicas": 1}
    obj["spec"]["replicas"] = 7
    written = call(api, "PUT", f"{DEPLOY}/web/status", obj).decoded()
    assert written["status"] == {"readyReplicas": 1} and written["spec"]["replicas"] == 1
    assert written["metadata"]["generation"] == 1
    written["status"] = {"readyReplicas": 99}
    written["spec"]["replicas"] = 3
    main = call(api, "PUT", f"{DEPLOY}/web", written).decoded()
    assert main["status"] == {"readyReplicas": 1} and main["spec"]["replicas"] == 3


def test_no_op_update_keeps_resource_version(api: ApiServer) -> None:
    obj = created(api, CM, configmap("a"))
    again = call(api, "PUT", f"{CM}/a", obj).decoded()
    assert again["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]


def test_generate_name(api: ApiServer) -> None:
    body = configmap("")
    body["metadata"] = {"generateName": "job-"}
    obj = created(api, CM, body)
    assert obj["metadata"]["name"].startswith("job-") and len(obj["metadata"]["name"]) == 9


def test_finalizers_mark_instead_of_delete(api: ApiServer) -> None:
    body = configmap("held")
    body["metadata"]["finalizers"] = ["example.com/cleanup"]
    created(api, CM, body)
    marked = call(api, "DELETE", f"{CM}/held").decoded()
    assert marked["metadata"]["deletionTimestamp"]
    still = call(api, "GET", f"{CM}/held").decoded()
    assert still["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]
    patch = {"metadata": {"finalizers": None}}
    assert call(api, "PATCH", f"{CM}/held", patch, "application/merge-patch+json").status == 200
    assert call(api, "GET", f"{CM}/held").status == 404


def test_delete_removes_and_answers_with_a_success_status(api: ApiServer) -> None:
    uid = created(api, CM, configmap("a"))["metadata"]["uid"]
    answer = call(api, "DELETE", f"{CM}/a").decoded()
    assert (answer["kind"], answer["status"]) == ("Status", "Success")
    assert answer["details"] == {"name": "a", "kind": "configmaps", "uid": uid}
    assert call(api, "GET", f"{CM}/a").status == 404
    assert call(api, "DELETE", f"{CM}/a").status == 404


def test_label_and_field_selectors(api: ApiServer) -> None:
    created(api, CM, configmap("a", labels={"tier": "web", "env": "prod"}))
    created(api, CM, configmap("b", labels={"tier": "db"}))
    created(api, CM, configmap("c"))

    def names(query: str) -> list[str]:
        listed = call(api, "GET", f"{CM}?{query}").decoded()
        return [i["metadata"]["name"] for i in listed["items"]]

    assert names("labelSelector=tier%3Dweb") == ["a"]
    assert names("labelSelector=tier%3D%3Dweb") == ["a"]
    assert names("labelSelector=tier!%3Dweb") == ["b", "c"]
    assert names("labelSelector=tier+in+(web,db)") == ["a", "b"]
    assert names("labelSelector=tier+notin+(web)") == ["b", "c"]
    assert names("labelSelector=env") == ["a"]
    assert names("labelSelector=!tier") == ["c"]
    assert names("labelSelector=tier,env%3Dprod") == ["a"]
    assert names("fieldSelector=metadata.name%3Db") == ["b"]
    assert names("fieldSelector=metadata.name!%3Db") == ["a", "c"]
    assert names("fieldSelector=metadata.namespace%3Dother") == []


def test_bad_selectors_are_bad_requests(api: ApiServer) -> None:
    assert status_of(call(api, "GET", f"{CM}?labelSelector=a+in+(b"))[0] == 400
    code, _, message = status_of(call(api, "GET", f"{CM}?fieldSelector=spec.foo%3D1"))
    assert code == 400 and "spec.foo" in message


def test_limit_and_continue_paging(api: ApiServer) -> None:
    for index in range(5):
        created(api, CM, configmap(f"cm-{index}"))
    seen: list[str] = []
    token = ""
    for _page in range(10):
        query = f"limit=2&continue={token}" if token else "limit=2"
        listed = call(api, "GET", f"{CM}?{query}").decoded()
        seen.extend(i["metadata"]["name"] for i in listed["items"])
        token = listed["metadata"].get("continue", "")
        if not token:
            break
    assert seen == [f"cm-{i}" for i in range(5)]
    assert status_of(call(api, "GET", f"{CM}?limit=2&continue=%21%21"))[0] == 400


def test_all_namespaces_list(api: ApiServer) -> None:
    created(api, "/api/v1/namespaces", {"metadata": {"name": "other"}})
    created(api, CM, configmap("a"))
    created(api, "/api/v1/namespaces/other/configmaps", configmap("b"))
    listed = call(api, "GET", "/api/v1/configmaps").decoded()
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"]] == [
        ("default", "a"),
        ("other", "b"),
    ]


def test_create_in_missing_namespace_is_not_found(api: ApiServer) -> None:
    code, _, message = status_of(
        call(api, "POST", "/api/v1/namespaces/nope/configmaps", configmap("a"))
    )
    assert (code, message) == (404, 'namespaces "nope" not found')


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("POST", CM, b"{not json", 400),
        ("POST", CM, b"[1, 2]", 400),
        ("POST", CM, {"kind": "Secret", "metadata": {"name": "x"}}, 400),
        ("POST", CM, {"metadata": {"name": "x", "labels": {"a": 1}}}, 400),
        ("POST", CM, {"metadata": {"name": "Not_Valid"}}, 422),
        ("POST", CM, {"metadata": {}}, 422),
        ("PUT", f"{CM}/a", {"metadata": {"name": "b"}}, 400),
        ("GET", "/api/v1/namespaces/default/widgets", None, 404),
        ("GET", "/apis/nope.example.com/v1/things", None, 404),
        ("GET", "/not/an/api/path", None, 404),
        ("POST", f"{CM}/a", {"metadata": {"name": "a"}}, 405),
        ("PUT", CM, {"metadata": {"name": "a"}}, 405),
        ("POST", "/api/v1", {}, 405),
        ("GET", f"{CM}?watch=1&resourceVersion=abc", None, 400),
        ("GET", f"{CM}?limit=-1", None, 400),
    ],
)
def test_errors_are_status_objects(
    api: ApiServer, method: str, path: str, body: Any, expected: int
) -> None:
    response = call(api, method, path, body)
    assert response.status == expected
    assert status_of(response)[0] == expected


def test_invalid_name_message_matches_api_server(api: ApiServer) -> None:
    _, reason, message = status_of(call(api, "POST", DEPLOY, {**deployment("Web")}))
    assert reason == "Invalid"
    assert message.startswith(
        'Deployment.apps "Web" is invalid: metadata.name: Invalid value: "Web"'
    )


def test_patch_types(api: ApiServer) -> None:
    created(api, DEPLOY, deployment("web"))
    merge = call(
        api, "PATCH", f"{DEPLOY}/web", {"spec": {"replicas": 3}}, "application/merge-patch+json"
    )
    assert merge.decoded()["spec"]["replicas"] == 3
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 4}]
    assert (
        call(api, "PATCH", f"{DEPLOY}/web", ops, "application/json-patch+json").decoded()["spec"][
            "replicas"
        ]
        == 4
    )
    strategic = {
        "spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox"}]}}}
    }
    patched = call(
        api, "PATCH", f"{DEPLOY}/web", strategic, "application/strategic-merge-patch+json"
    )
    containers = patched.decoded()["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["main", "side"]
    assert status_of(call(api, "PATCH", f"{DEPLOY}/web", {"a": 1}, "text/plain"))[0] == 415
    failing = [{"op": "test", "path": "/spec/replicas", "value": 99}]
    assert (
        status_of(call(api, "PATCH", f"{DEPLOY}/web", failing, "application/json-patch+json"))[0]
        == 422
    )


def test_patch_with_stale_resource_version_conflicts(api: ApiServer) -> None:
    obj = created(api, CM, configmap("a"))
    call(api, "PATCH", f"{CM}/a", {"data": {"x": "1"}}, "application/merge-patch+json")
    stale = {
        "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
        "data": {"y": "2"},
    }
    assert status_of(call(api, "PATCH", f"{CM}/a", stale, "application/merge-patch+json"))[:2] == (
        409,
        "Conflict",
    )


def test_scale_subresource(api: ApiServer) -> None:
    created(api, DEPLOY, deployment("web", replicas=2))
    scale = call(api, "GET", f"{DEPLOY}/web/scale").decoded()
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 2
    assert scale["status"]["selector"] == "app=web"
    patched = call(
        api,
        "PATCH",
        f"{DEPLOY}/web/scale",
        {"spec": {"replicas": 6}},
        "application/merge-patch+json",
    )
    assert patched.decoded()["spec"]["replicas"] == 6
    assert call(api, "GET", f"{DEPLOY}/web").decoded()["spec"]["replicas"] == 6
    assert call(api, "GET", f"{CM}/a/scale").status == 404


def test_custom_resource_definition_serves_new_kinds(api: ApiServer) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "subresources": {"status": {}}}
            ],
        },
    }
    stored = created(api, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert {c["type"] for c in stored["status"]["conditions"]} == {"NamesAccepted", "Established"}
    path = "/apis/example.com/v1/namespaces/default/widgets"
    widget = created(api, path, {"apiVersion": "example.com/v1", "kind": "Widget",
                                 "metadata": {"name": "w"}, "spec": {"size": 1}})  # fmt: skip
    assert widget["metadata"]["generation"] == 1
    assert call(api, "GET", "/apis/example.com/v1").decoded()["resources"][0]["kind"] == "Widget"
    strategic = call(
        api, "PATCH", f"{path}/w", {"spec": {}}, "application/strategic-merge-patch+json"
    )
    assert strategic.status == 415
    call(
        api, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com"
    )
    assert call(api, "GET", path).status == 404


def test_cluster_scoped_custom_resource(api: ApiServer) -> None:
    crd = {
        "metadata": {"name": "zones.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Cluster",
            "names": {"plural": "zones", "kind": "Zone"},
            "versions": [{"name": "v1alpha1", "served": True, "storage": True}],
        },
    }
    created(api, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    zone = created(api, "/apis/example.com/v1alpha1/zones", {"metadata": {"name": "eu"}})
    assert "namespace" not in zone["metadata"]
    assert call(api, "GET", "/apis/example.com/v1alpha1/namespaces/default/zones").status == 404


def test_table_output_for_kubectl(api: ApiServer) -> None:
    created(api, DEPLOY, deployment("web", replicas=3))
    accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    table = call(api, "GET", DEPLOY, headers=accept).decoded()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:2] == ["Name", "Ready"]
    assert table["rows"][0]["cells"][:2] == ["web", "0/3"]


def read_watch(api: ApiServer, query: str, wanted: int) -> list[dict[str, Any]]:
    """Read events from a watch stream until ``wanted`` arrived (timeoutSeconds bounds it)."""
    response = call(api, "GET", f"{CM}?watch=1&timeoutSeconds=5&{query}")
    assert response.stream is not None
    events: list[dict[str, Any]] = []
    for chunk in response.stream:
        if chunk:
            events.extend(json.loads(line) for line in chunk.splitlines())
        if len(events) >= wanted:
            break
    response.stream.close()  # type: ignore[attr-defined]
    return events


def test_watch_from_resource_version_and_initial_events(api: ApiServer) -> None:
    first = created(api, CM, configmap("a"))
    created(api, CM, configmap("b"))
    call(api, "DELETE", f"{CM}/a")
    since = first["metadata"]["resourceVersion"]
    events = read_watch(api, f"resourceVersion={since}", 2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"),
        ("DELETED", "a"),
    ]
    initial = read_watch(api, "", 1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in initial] == [("ADDED", "b")]


def test_watch_with_label_selector_sees_objects_leave(api: ApiServer) -> None:
    obj = created(api, CM, configmap("a", labels={"app": "x"}))
    obj["metadata"]["labels"] = {"app": "y"}
    call(api, "PUT", f"{CM}/a", obj)
    since = obj["metadata"]["resourceVersion"]
    events = read_watch(api, f"resourceVersion={since}&labelSelector=app%3Dx", 1)
    assert events[0]["type"] == "DELETED"


def test_too_old_resource_version_gets_410_error_event(api: ApiServer) -> None:
    for index in range(80):
        created(api, CM, configmap(f"cm-{index}"))
    events = read_watch(api, "resourceVersion=1", 1)
    assert events[0]["type"] == "ERROR"
    assert (events[0]["object"]["code"], events[0]["object"]["reason"]) == (410, "Expired")


def test_watch_timeout_ends_with_bookmark() -> None:
    api = ApiServer(FakeBackend())
    response = call(
        api, "GET", f"{CM}?watch=1&timeoutSeconds=1&allowWatchBookmarks=true&resourceVersion=1"
    )
    assert response.stream is not None
    chunks = [c for c in response.stream if c]
    assert chunks == [encode_event("BOOKMARK", {"kind": "ConfigMap", "apiVersion": "v1",
                                                "metadata": {"resourceVersion": "1"}})]  # fmt: skip


def test_namespace_delete_removes_contents(api: ApiServer) -> None:
    created(api, "/api/v1/namespaces", {"metadata": {"name": "gone"}})
    created(api, "/api/v1/namespaces/gone/configmaps", configmap("a"))
    assert call(api, "DELETE", "/api/v1/namespaces/gone").status == 200
    assert call(api, "GET", "/api/v1/namespaces/gone/configmaps/a").status == 404


def test_delete_collection_with_selector(api: ApiServer) -> None:
    created(api, CM, configmap("a", labels={"x": "1"}))
    created(api, CM, configmap("b"))
    deleted = call(api, "DELETE", f"{CM}?labelSelector=x").decoded()
    assert [i["metadata"]["name"] for i in deleted["items"]] == ["a"]
    assert [i["metadata"]["name"] for i in call(api, "GET", CM).decoded()["items"]] == ["b"]


def test_send_initial_events_ends_with_marker_bookmark(api: ApiServer) -> None:
    created(api, CM, configmap("a"))
    events = read_watch(api, "sendInitialEvents=true&allowWatchBookmarks=true&resourceVersion=1", 2)
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    annotations = events[1]["object"]["metadata"]["annotations"]
    assert annotations == {"k8s.io/initial-events-end": "true"}


def test_unconsumed_watch_does_not_hold_back_writers_or_other_watchers(api: ApiServer) -> None:
    before = call(api, "GET", CM).decoded()["metadata"]["resourceVersion"]
    created(api, CM, configmap("first"))
    stalled = call(api, "GET", f"{CM}?watch=1&timeoutSeconds=5&resourceVersion={before}")
    assert stalled.stream is not None
    assert next(stalled.stream)  # positioned after its first event, then never read again
    for index in range(20):
        created(api, CM, configmap(f"cm-{index}"))
    events = read_watch(api, f"resourceVersion={before}", 21)
    assert [e["object"]["metadata"]["name"] for e in events] == ["first"] + [
        f"cm-{i}" for i in range(20)
    ]
    stalled.stream.close()  # type: ignore[attr-defined]


def _length_delimited(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"k8s\x00" + _length_delimited(1, _length_delimited(2, b"Deployment")), 415),
        (b"k8s\x00\x0a\x7f", 400),
        (b"not-k8s", 400),
    ],
)
def test_protobuf_bodies_outside_the_supported_set(
    api: ApiServer, body: bytes, expected: int
) -> None:
    response = call(api, "POST", DEPLOY, body, "application/vnd.kubernetes.protobuf")
    assert status_of(response)[0] == expected


def test_protobuf_configmap_is_decoded(api: ApiServer) -> None:
    metadata = _length_delimited(1, b"pb")
    entry = _length_delimited(1, b"k") + _length_delimited(2, b"v")
    raw = _length_delimited(1, metadata) + _length_delimited(2, entry)
    type_meta = _length_delimited(1, b"v1") + _length_delimited(2, b"ConfigMap")
    body = b"k8s\x00" + _length_delimited(1, type_meta) + _length_delimited(2, raw)
    response = call(api, "POST", CM, body, "application/vnd.kubernetes.protobuf")
    assert response.status == 201
    assert response.decoded()["data"] == {"k": "v"}


class _AnsweringBackend(FakeBackend):
    """A backend that answers reads of one object itself, as live replay does."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, str]] = []

    def intercept_read(self, verb: str, target: Any) -> Any:
        self.reads.append((verb, target.name))
        if target.name != "answered":
            return None
        from kreplay_dap.apiserver import ApiResponse

        return ApiResponse.json(200, configmap("answered"))


def test_backend_can_answer_reads() -> None:
    backend = _AnsweringBackend()
    api = ApiServer(backend)
    assert call(api, "GET", f"{CM}/answered").decoded()["metadata"]["name"] == "answered"
    assert call(api, "GET", f"{CM}/other").status == 404
    assert call(api, "GET", CM).status == 200
    assert backend.reads == [("get", "answered"), ("get", "other"), ("list", "")]
