"""Decoding and validation of written objects, as kube-apiserver does them: metadata JSON types
(400), label/annotation/finalizer/ownerReference syntax (422), Secret data, namespaces on the
body, resourceVersion on custom resource updates, generations of custom resources."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from kreplay_dap.apiserver import ApiServer
from tests.apiserver.helpers import call, configmap, custom_resource_definition, kubectl

client: Any = kubernetes.client
config: Any = kubernetes.config
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")

CM = "/api/v1/namespaces/default/configmaps"
SECRETS = "/api/v1/namespaces/default/secrets"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
GADGETS = "/apis/example.com/v1/namespaces/default/gadgets"
MERGE = "application/merge-patch+json"


def failure(response: Any) -> tuple[int, str, str]:
    body = response.decoded()
    assert body["kind"] == "Status" and body["status"] == "Failure", body
    return body["code"], body["reason"], body["message"]


def causes_of(response: Any) -> list[tuple[str, str, str]]:
    details = response.decoded()["details"]
    return [(c["field"], c["reason"], c["message"]) for c in details["causes"]]


def api_error(error: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(str(error.value.body))
    return body


# -- 1. metadata types and syntax -------------------------------------------------------------
def test_a_numeric_name_is_refused_at_decode_and_the_kind_stays_usable(api: ApiServer) -> None:
    call(api, "POST", CM, configmap("a"))
    code, reason, message = failure(call(api, "POST", CM, {"metadata": {"name": 5}}))
    assert (code, reason) == (400, "BadRequest")
    assert message == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal'
        " number into Go struct field ObjectMeta.metadata.name of type string"
    )
    listed = call(api, "GET", CM)
    assert listed.status == 200
    assert [i["metadata"]["name"] for i in listed.decoded()["items"]] == ["a"]
    assert call(api, "DELETE", CM).status == 200
    assert failure(call(api, "POST", "/api/v1/namespaces", {"metadata": {"name": 1}}))[0] == 400
    assert call(api, "GET", "/api/v1/namespaces").status == 200


def test_creating_an_object_read_back_with_its_version_is_refused(api: ApiServer) -> None:
    """A real server's storage refuses it with a plain 500; an unparsable version passes."""
    created = call(api, "POST", CM, configmap("read-back")).decoded()
    call(api, "DELETE", f"{CM}/read-back")
    again = call(api, "POST", CM, created)
    assert failure(again)[0::2] == (
        500,
        "resourceVersion should not be set on objects to be created",
    )
    for version in ("", "0", "-1"):
        body = configmap(f"fresh{version}")
        body["metadata"]["resourceVersion"] = version
        assert call(api, "POST", CM, body).status == 201
    dry = call(api, "POST", CM + "?dryRun=All", created)
    assert dry.status == 201  # a dry run never reaches storage


@pytest.mark.parametrize(
    ("metadata", "go_field"),
    [
        ({"generateName": 7}, "ObjectMeta.metadata.generateName of type string"),
        ({"name": "a", "namespace": 3}, "ObjectMeta.metadata.namespace of type string"),
        ({"name": "a", "labels": ["x"]}, "ObjectMeta.metadata.labels of type map[string]string"),
        ({"name": "a", "labels": {"k": 1}}, "ObjectMeta.metadata.labels of type string"),
        ({"name": "a", "annotations": {"k": True}}, "ObjectMeta.metadata.annotations of type"),
        ({"name": "a", "finalizers": "x/y"}, "ObjectMeta.metadata.finalizers of type []string"),
        ({"name": "a", "finalizers": [1]}, "ObjectMeta.metadata.finalizers of type string"),
        ({"name": "a", "ownerReferences": {}}, "ObjectMeta.metadata.ownerReferences of type"),
        ({"name": "a", "ownerReferences": [{"name": 5}]}, "ownerReferences.name of type string"),
        ({"name": "a", "ownerReferences": [{"controller": "yes"}]}, "controller of type bool"),
    ],
)
def test_metadata_of_the_wrong_json_type_is_a_bad_request(
    api: ApiServer, metadata: dict[str, Any], go_field: str
) -> None:
    code, reason, message = failure(call(api, "POST", CM, {"metadata": metadata}))
    assert (code, reason) == (400, "BadRequest")
    assert go_field in message
    assert call(api, "GET", CM).decoded()["items"] == []


def test_updates_and_patches_decode_metadata_too(api: ApiServer) -> None:
    obj = call(api, "POST", CM, configmap("a")).decoded()
    obj["metadata"]["labels"] = {"k": 5}
    assert failure(call(api, "PUT", f"{CM}/a", obj))[:2] == (400, "BadRequest")
    patched = call(api, "PATCH", f"{CM}/a", {"metadata": {"labels": {"k": 5}}}, MERGE)
    assert failure(patched)[:2] == (422, "Invalid")  # the patch handler's decode error
    assert causes_of(patched)[0][0] == "patch"
    assert "labels" not in call(api, "GET", f"{CM}/a").decoded()["metadata"]


def test_label_and_annotation_syntax_errors_are_invalid_with_field_causes(
    api: ApiServer,
) -> None:
    labels = {"bad key": "v", "ok": "not a value!"}
    body = {"metadata": {"name": "a", "labels": labels, "annotations": {"x/y/z": "v"}}}
    response = call(api, "POST", CM, body)
    code, reason, message = failure(response)
    assert (code, reason) == (422, "Invalid")
    assert message.startswith(
        'ConfigMap "a" is invalid: [metadata.labels: Invalid value: "bad key"'
    )
    causes = causes_of(response)
    assert [(f, r) for f, r, _ in causes] == [("metadata.labels", "FieldValueInvalid")] * 2 + [
        ("metadata.annotations", "FieldValueInvalid")
    ]
    assert causes[0][2].startswith(
        "Invalid value: \"bad key\": name part must consist of alphanumeric characters, '-', '_'"
    )
    assert causes[1][2].startswith('Invalid value: "not a value!": a valid label must be an empty')
    assert "a qualified name must consist of" in causes[2][2]


def test_finalizer_and_owner_reference_errors(api: ApiServer) -> None:
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": ""}
    body = {"metadata": {"name": "a", "finalizers": ["bad name"], "ownerReferences": [owner]}}
    response = call(api, "POST", CM, body)
    assert failure(response)[:2] == (422, "Invalid")
    fields = [f for f, _, _ in causes_of(response)]
    assert fields == ["metadata.finalizers", "metadata.ownerReferences.uid"]


@needs_kubectl
def test_kubectl_gets_the_bad_request_and_lists_afterwards(kubeconfig: str, tmp_path: Path) -> None:
    manifest = tmp_path / "numeric.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": 5}}))  # fmt: skip
    path = "/api/v1/namespaces/default/configmaps"
    refused = kubectl(kubeconfig, "create", "--raw", path, "-f", str(manifest), check=False)
    assert refused.returncode != 0
    assert "cannot unmarshal number into Go struct field ObjectMeta.metadata.name" in (
        refused.stderr
    )
    assert kubectl(kubeconfig, "get", "configmaps", "-o", "name").stdout == ""


def test_python_client_gets_the_invalid_label(api_client: Any) -> None:
    core = client.CoreV1Api(api_client)
    with pytest.raises(ApiException) as invalid:
        core.create_namespaced_config_map(
            "default", {"metadata": {"name": "a", "labels": {"k": "-bad-"}}}
        )
    assert invalid.value.status == 422
    assert api_error(invalid)["details"]["causes"][0]["field"] == "metadata.labels"
    assert core.list_namespaced_config_map("default").items == []


# -- 9. Secrets --------------------------------------------------------------------------------
def encoded(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_secret_string_data_is_merged_into_data_and_not_stored(api_client: Any) -> None:
    core = client.CoreV1Api(api_client)
    body = client.V1Secret(
        metadata=client.V1ObjectMeta(name="s"),
        data={"kept": encoded("old"), "both": encoded("from data")},
        string_data={"plain": "hello", "both": "from stringData"},
    )
    created = core.create_namespaced_secret("default", body)
    assert created.string_data is None
    assert created.data == {"kept": encoded("old"), "both": encoded("from stringData"),
                            "plain": encoded("hello")}  # fmt: skip
    read = core.read_namespaced_secret("s", "default")
    assert read.data == created.data and read.string_data is None
    read.string_data = {"kept": "new"}
    replaced = core.replace_namespaced_secret("s", "default", read)
    assert replaced.data["kept"] == encoded("new") and replaced.string_data is None
    patched = core.patch_namespaced_secret("s", "default", {"stringData": {"extra": "x"}})
    assert patched.data["extra"] == encoded("x") and patched.string_data is None
    assert set(patched.data) == {"kept", "both", "plain", "extra"}


def test_secret_data_that_is_not_base64_is_refused(api: ApiServer) -> None:
    bad = {"metadata": {"name": "s"}, "data": {"k": "not base64!"}}
    code, reason, message = failure(call(api, "POST", SECRETS, bad))
    assert (code, reason) == (400, "BadRequest")
    assert message.startswith(
        'Secret in version "v1" cannot be handled as a Secret: illegal base64'
    )
    assert failure(call(api, "POST", SECRETS, {**bad, "data": {"k": "YQ"}}))[0] == 400  # padding
    good = call(api, "POST", SECRETS, {"metadata": {"name": "s"}, "data": {"k": "YQ=="}})
    assert good.status == 201
    stored = good.decoded()
    stored["data"] = {"k": "%%%"}
    assert failure(call(api, "PUT", f"{SECRETS}/s", stored))[:2] == (400, "BadRequest")
    patched = call(api, "PATCH", f"{SECRETS}/s", {"data": {"k": "%%%"}}, MERGE)
    assert failure(patched)[:2] == (422, "Invalid")  # patches report decode errors so
    assert call(api, "GET", f"{SECRETS}/s").decoded()["data"] == {"k": "YQ=="}


# -- 14. the namespace of the body ---------------------------------------------------------------
def test_update_or_patch_to_another_namespace_is_a_bad_request(api: ApiServer) -> None:
    call(api, "POST", "/api/v1/namespaces", {"metadata": {"name": "other"}})
    obj = call(api, "POST", CM, configmap("a")).decoded()
    expected = (
        400,
        "BadRequest",
        "the namespace of the provided object does not match the namespace sent on the request",
    )
    moved = {"metadata": {"namespace": "other"}, "data": {"k": "changed"}}
    assert failure(call(api, "PATCH", f"{CM}/a", moved, MERGE)) == expected
    ops = [{"op": "replace", "path": "/metadata/namespace", "value": "other"}]
    assert failure(call(api, "PATCH", f"{CM}/a", ops, "application/json-patch+json")) == expected
    obj["metadata"]["namespace"] = "other"
    assert failure(call(api, "PUT", f"{CM}/a", obj)) == expected
    assert call(api, "GET", f"{CM}/a").decoded()["data"] == {"k": "v"}
    assert call(api, "GET", "/api/v1/namespaces/other/configmaps/a").status == 404
    renamed = call(api, "PATCH", f"{CM}/a", {"metadata": {"name": "b"}}, MERGE)
    assert failure(renamed)[:2] == (400, "BadRequest")


# -- 7 and 8. custom resources -----------------------------------------------------------------
def gadget(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": name},
            "spec": spec}  # fmt: skip


def test_custom_resource_update_needs_a_resource_version(api_client: Any) -> None:
    extensions = client.ApiextensionsV1Api(api_client)
    extensions.create_custom_resource_definition(custom_resource_definition("gadgets", "Gadget"))
    custom = client.CustomObjectsApi(api_client)
    where = ("example.com", "v1", "default", "gadgets")
    created = custom.create_namespaced_custom_object(*where, gadget("g", size=1))
    with pytest.raises(ApiException) as refused:
        custom.replace_namespaced_custom_object(*where, "g", gadget("g", size=2))
    assert refused.value.status == 422
    body = api_error(refused)
    assert body["message"] == (
        'gadgets.example.com "g" is invalid: metadata.resourceVersion: Invalid value: 0x0:'
        " must be specified for an update"
    )
    assert body["details"]["causes"][0]["field"] == "metadata.resourceVersion"
    created["spec"] = {"size": 2}
    replaced = custom.replace_namespaced_custom_object(*where, "g", created)
    assert replaced["spec"] == {"size": 2}


def test_built_in_update_without_resource_version_is_allowed(api: ApiServer) -> None:
    call(api, "POST", CM, configmap("a"))
    assert call(api, "PUT", f"{CM}/a", {**configmap("a"), "data": {"k": "2"}}).status == 200


def test_custom_resource_generation_without_status_subresource(api: ApiServer) -> None:
    assert call(api, "POST", CRDS, custom_resource_definition("gadgets", "Gadget")).status == 201
    call(api, "POST", GADGETS, gadget("g", size=1))
    with_status = call(api, "PATCH", f"{GADGETS}/g", {"status": {"ready": True}}, MERGE)
    assert with_status.decoded()["status"] == {"ready": True}
    assert with_status.decoded()["metadata"]["generation"] == 2
    labelled = call(api, "PATCH", f"{GADGETS}/g", {"metadata": {"labels": {"a": "b"}}}, MERGE)
    assert labelled.decoded()["metadata"]["generation"] == 2
    extra = call(api, "PATCH", f"{GADGETS}/g", {"extra": 1}, MERGE)
    assert extra.decoded()["metadata"]["generation"] == 3


def test_custom_resource_generation_with_status_subresource(api: ApiServer) -> None:
    definition = custom_resource_definition("gadgets", "Gadget", status_subresource=True)
    assert call(api, "POST", CRDS, definition).status == 201
    call(api, "POST", GADGETS, gadget("g", size=1))
    status_write = call(api, "PATCH", f"{GADGETS}/g/status", {"status": {"ready": True}}, MERGE)
    assert status_write.decoded()["metadata"]["generation"] == 1
    spec_write = call(api, "PATCH", f"{GADGETS}/g", {"spec": {"size": 2}}, MERGE)
    assert spec_write.decoded()["metadata"]["generation"] == 2


# -- 13. CRD definitions -----------------------------------------------------------------------
def test_crd_name_must_be_plural_dot_group(api: ApiServer) -> None:
    definition = custom_resource_definition("gadgets", "Gadget")
    definition["metadata"]["name"] = "gizmos.example.com"
    response = call(api, "POST", CRDS, definition)
    code, reason, message = failure(response)
    assert (code, reason) == (422, "Invalid")
    assert message == (
        'CustomResourceDefinition.apiextensions.k8s.io "gizmos.example.com" is invalid:'
        ' metadata.name: Invalid value: "gizmos.example.com": must be'
        ' spec.names.plural+"."+spec.group'
    )
    assert call(api, "GET", "/apis/example.com/v1/namespaces/default/gadgets").status == 404


def test_crd_group_must_be_a_domain(api: ApiServer) -> None:
    response = call(api, "POST", CRDS, custom_resource_definition("gadgets", "Gadget", "example"))
    assert failure(response)[:2] == (422, "Invalid")
    assert causes_of(response) == [
        (
            "spec.group",
            "FieldValueInvalid",
            'Invalid value: "example": should be a domain with at least one dot',
        )
    ]


def test_a_crd_never_replaces_a_built_in_kind(api: ApiServer) -> None:
    definition = custom_resource_definition("leases", "Lease", "coordination.k8s.io")
    assert failure(call(api, "POST", CRDS, definition))[0] == 422  # protected group: approval
    definition["metadata"]["annotations"] = {"api-approved.kubernetes.io": "unapproved, test"}
    assert call(api, "POST", CRDS, definition).status == 201
    leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
    lease = {"metadata": {"name": "l"}, "spec": {"holderIdentity": "me"}}
    assert call(api, "POST", leases, lease).status == 201
    crd_path = f"{CRDS}/leases.coordination.k8s.io"
    assert call(api, "DELETE", crd_path).status == 200
    assert call(api, "GET", f"{leases}/l").decoded()["spec"] == {"holderIdentity": "me"}
    resources = call(api, "GET", "/apis/coordination.k8s.io/v1").decoded()["resources"]
    assert [r["name"] for r in resources] == ["leases"]
