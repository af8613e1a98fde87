"""Deletion as kube-apiserver answers it: response bodies, DeleteOptions, finalizers, the
namespace lifecycle (Terminating, contents removed, gone once empty) and CRD deletion."""

from __future__ import annotations

import json
import shutil
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from kreplay_dap.apiserver import ApiServer
from tests.apiserver.helpers import (
    call,
    configmap,
    custom_resource_definition,
    deployment,
    kubectl,
    stream_events,
)

client: Any = kubernetes.client
config: Any = kubernetes.config
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")

NAMESPACES = "/api/v1/namespaces"
CM = "/api/v1/namespaces/default/configmaps"
TEAM_CM = "/api/v1/namespaces/team/configmaps"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
GADGETS = "/apis/example.com/v1/namespaces/default/gadgets"
MERGE = "application/merge-patch+json"


def held(name: str) -> dict[str, Any]:
    body = configmap(name)
    body["metadata"]["finalizers"] = ["example.com/hold"]
    return body


def failure(response: Any) -> tuple[int, str, str]:
    body = response.decoded()
    assert body["kind"] == "Status" and body["status"] == "Failure", body
    return body["code"], body["reason"], body["message"]


def watch(api: ApiServer, path: str) -> Any:
    """A watch from the current resourceVersion, read later with ``stream_events``."""
    since = call(api, "GET", path).decoded()["metadata"]["resourceVersion"]
    return call(api, "GET", f"{path}?watch=1&timeoutSeconds=5&resourceVersion={since}")


def seen(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"]["name"]) for e in events]


# -- 10. response bodies and options -----------------------------------------------------------
def test_delete_answers_with_a_status_for_most_kinds(api: ApiServer) -> None:
    call(api, "POST", "/apis/apps/v1/namespaces/default/deployments", deployment("web"))
    uid = call(api, "GET", "/apis/apps/v1/namespaces/default/deployments/web").decoded()[
        "metadata"
    ]["uid"]
    answer = call(api, "DELETE", "/apis/apps/v1/namespaces/default/deployments/web").decoded()
    assert answer == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                      "details": {"name": "web", "group": "apps", "kind": "deployments",
                                  "uid": uid}}  # fmt: skip


def test_delete_answers_with_the_object_for_pods_and_custom_resources(api: ApiServer) -> None:
    pods = "/api/v1/namespaces/default/pods"
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    call(api, "POST", pods, pod)
    assert call(api, "DELETE", f"{pods}/p").decoded()["kind"] == "Pod"
    call(api, "POST", CRDS, custom_resource_definition("gadgets", "Gadget"))
    call(api, "POST", GADGETS, {"metadata": {"name": "g"}, "spec": {}})
    answer = call(api, "DELETE", f"{GADGETS}/g").decoded()
    assert (answer["kind"], answer["metadata"]["name"]) == ("Gadget", "g")


def test_delete_held_by_finalizers_answers_with_the_object(api: ApiServer) -> None:
    call(api, "POST", CM, held("a"))
    answer = call(api, "DELETE", f"{CM}/a").decoded()
    assert answer["kind"] == "ConfigMap" and answer["metadata"]["deletionTimestamp"]


def test_invalid_propagation_policy_is_invalid(api_client: Any) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map("default", configmap("a"))
    expected = (
        'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sideways":'
        ' supported values: "Foreground", "Background", "Orphan"'
    )
    with pytest.raises(ApiException) as in_query:
        core.delete_namespaced_config_map("a", "default", propagation_policy="Sideways")
    assert in_query.value.status == 422
    assert json.loads(str(in_query.value.body))["message"] == expected
    options = client.V1DeleteOptions(propagation_policy="Sideways")
    with pytest.raises(ApiException) as in_body:
        core.delete_namespaced_config_map("a", "default", body=options)
    assert in_body.value.status == 422
    core.delete_namespaced_config_map("a", "default", propagation_policy="Foreground")
    assert core.list_namespaced_config_map("default").items == []


def test_no_new_finalizers_once_deleting(api: ApiServer) -> None:
    call(api, "POST", CM, held("a"))
    call(api, "DELETE", f"{CM}/a")
    more = {"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}}
    response = call(api, "PATCH", f"{CM}/a", more, MERGE)
    code, reason, message = failure(response)
    assert (code, reason) == (422, "Invalid")
    assert message == (
        'ConfigMap "a" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added'
        ' if the object is being deleted, found new finalizers []string{"example.com/more"}'
    )
    assert response.decoded()["details"]["causes"][0]["reason"] == "FieldValueForbidden"
    released = call(api, "PATCH", f"{CM}/a", {"metadata": {"finalizers": []}}, MERGE)
    assert released.status == 200
    assert call(api, "GET", f"{CM}/a").status == 404


# -- 2. namespaces -------------------------------------------------------------------------------
def test_namespaces_have_no_deletecollection(api: ApiServer) -> None:
    resources = call(api, "GET", "/api/v1").decoded()["resources"]
    verbs = next(r["verbs"] for r in resources if r["name"] == "namespaces")
    assert "deletecollection" not in verbs and "delete" in verbs
    assert failure(call(api, "DELETE", NAMESPACES))[:2] == (405, "MethodNotAllowed")
    assert call(api, "GET", f"{NAMESPACES}/default").status == 200


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
def test_system_namespaces_may_not_be_deleted(api_client: Any, name: str) -> None:
    core = client.CoreV1Api(api_client)
    with pytest.raises(ApiException) as refused:
        core.delete_namespace(name)
    assert refused.value.status == 403
    body = json.loads(str(refused.value.body))
    assert (body["reason"], body["message"]) == (
        "Forbidden",
        f'namespaces "{name}" is forbidden: this namespace may not be deleted',
    )


@needs_kubectl
def test_kubectl_cannot_delete_the_default_namespace(kubeconfig: str) -> None:
    refused = kubectl(kubeconfig, "delete", "namespace", "default", check=False)
    assert refused.returncode != 0
    assert "Forbidden" in refused.stderr and "this namespace may not be deleted" in refused.stderr
    assert kubectl(kubeconfig, "get", "namespace", "default", "-o", "name").stdout.strip() == (
        "namespace/default"
    )


def test_namespace_deletion_lifecycle(api: ApiServer) -> None:
    call(api, "POST", NAMESPACES, {"metadata": {"name": "team"}})
    call(api, "POST", TEAM_CM, configmap("plain"))
    call(api, "POST", TEAM_CM, held("kept"))
    namespace_watch = watch(api, NAMESPACES)
    configmap_watch = watch(api, TEAM_CM)
    answer = call(api, "DELETE", f"{NAMESPACES}/team")
    assert answer.status == 200
    marked = answer.decoded()
    assert marked["metadata"]["deletionTimestamp"] and marked["status"]["phase"] == "Terminating"
    terminating = call(api, "GET", f"{NAMESPACES}/team").decoded()
    assert terminating["status"]["phase"] == "Terminating"
    names = [i["metadata"]["name"] for i in call(api, "GET", TEAM_CM).decoded()["items"]]
    assert names == ["kept"]
    code, reason, message = failure(call(api, "POST", TEAM_CM, configmap("late")))
    assert (code, reason) == (403, "Forbidden")
    assert message == (
        'configmaps "late" is forbidden: unable to create new content in namespace team because'
        " it is being terminated"
    )
    again = call(api, "DELETE", f"{NAMESPACES}/team")
    assert failure(again)[:2] == (409, "Conflict")
    call(api, "PATCH", f"{TEAM_CM}/kept", {"metadata": {"finalizers": None}}, MERGE)
    assert call(api, "GET", f"{NAMESPACES}/team").status == 404
    deleted = seen(stream_events(configmap_watch, 3))
    assert sorted(deleted[:2]) == [("DELETED", "plain"), ("MODIFIED", "kept")]
    assert deleted[2:] == [("DELETED", "kept")]
    namespace_events = stream_events(namespace_watch, 2)
    assert seen(namespace_events) == [("MODIFIED", "team"), ("DELETED", "team")]
    assert namespace_events[0]["object"]["status"]["phase"] == "Terminating"


def test_an_empty_namespace_goes_at_once(api_client: Any) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": "empty"}})
    answer = core.delete_namespace("empty")  # typed as a Status, so left a dict
    assert answer["status"]["phase"] == "Terminating"
    with pytest.raises(ApiException) as gone:
        core.read_namespace("empty")
    assert gone.value.status == 404


def test_a_namespace_with_its_own_finalizer_stays_until_released(api: ApiServer) -> None:
    body = {"metadata": {"name": "team", "finalizers": ["example.com/hold"]}}
    call(api, "POST", NAMESPACES, body)
    call(api, "POST", TEAM_CM, configmap("plain"))
    call(api, "DELETE", f"{NAMESPACES}/team")
    assert call(api, "GET", TEAM_CM).decoded()["items"] == []
    left = call(api, "GET", f"{NAMESPACES}/team").decoded()
    assert left["status"]["phase"] == "Terminating" and left["spec"]["finalizers"] == []
    call(api, "PATCH", f"{NAMESPACES}/team", {"metadata": {"finalizers": None}}, MERGE)
    assert call(api, "GET", f"{NAMESPACES}/team").status == 404


# -- 13. CRD deletion --------------------------------------------------------------------------
def test_deleting_a_crd_deletes_its_resources_and_ends_watches(api: ApiServer) -> None:
    call(api, "POST", CRDS, custom_resource_definition("gadgets", "Gadget"))
    for name in ("a", "b"):
        call(api, "POST", GADGETS, {"metadata": {"name": name}, "spec": {}})
    gadget_watch = watch(api, GADGETS)
    answer = call(api, "DELETE", f"{CRDS}/gadgets.example.com").decoded()
    assert answer["metadata"]["deletionTimestamp"]
    assert "customresourcecleanup.apiextensions.k8s.io" in answer["metadata"]["finalizers"]
    # The stream ends by itself once its kind is gone: more than two events would hang here.
    assert seen(stream_events(gadget_watch, 3)) == [("DELETED", "a"), ("DELETED", "b")]
    assert call(api, "GET", f"{CRDS}/gadgets.example.com").status == 404
    assert call(api, "GET", GADGETS).status == 404


def test_custom_resources_with_finalizers_keep_their_crd_terminating(api: ApiServer) -> None:
    call(api, "POST", CRDS, custom_resource_definition("gadgets", "Gadget"))
    body = {"metadata": {"name": "g", "finalizers": ["example.com/hold"]}, "spec": {}}
    call(api, "POST", GADGETS, body)
    call(api, "DELETE", f"{CRDS}/gadgets.example.com")
    crd = call(api, "GET", f"{CRDS}/gadgets.example.com").decoded()
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Terminating"] == "True"
    assert call(api, "GET", f"{GADGETS}/g").decoded()["metadata"]["deletionTimestamp"]
    late = call(api, "POST", GADGETS, {"metadata": {"name": "late"}, "spec": {}})
    assert failure(late)[:2] == (405, "MethodNotAllowed")
    call(api, "PATCH", f"{GADGETS}/g", {"metadata": {"finalizers": None}}, MERGE)
    assert call(api, "GET", f"{CRDS}/gadgets.example.com").status == 404
    assert call(api, "GET", GADGETS).status == 404
