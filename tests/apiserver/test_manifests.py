"""Seeding from manifests: multi-document YAML, JSON, List kinds, CRDs before their objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kreplay_dap.apiserver import ApiRequest, ApiServer, FakeBackend
from kreplay_dap.apiserver.manifests import load_manifests, read_documents
from recorder.errors import InvalidInputError


def test_loads_yaml_json_lists_and_crds_in_order(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: example.com/v1\nkind: Gizmo\nmetadata: {name: g, namespace: lab}\n---\n"
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: gizmos.example.com}\n"
        "spec: {group: example.com, scope: Namespaced, names: {plural: gizmos, kind: Gizmo},"
        " versions: [{name: v1, served: true, storage: true}]}\n"
    )
    item = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}
    listed = {"apiVersion": "v1", "kind": "List", "items": [item]}
    (tmp_path / "b.json").write_text(json.dumps(listed))
    api = ApiServer(FakeBackend())
    assert load_manifests(api, [str(tmp_path / "a.yaml"), str(tmp_path / "b.json")]) == 3
    gizmo = api.handle(
        ApiRequest.from_target("GET", "/apis/example.com/v1/namespaces/lab/gizmos/g")
    )
    assert gizmo.status == 200
    assert (
        api.handle(ApiRequest.from_target("GET", "/api/v1/namespaces/default/configmaps/c")).status
        == 200
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [("a: [unclosed", "not valid YAML"), ("- 1\n- 2\n", "must be an object with a kind")],
)
def test_bad_manifests_are_rejected(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInputError, match=message):
        read_documents(str(path))


def test_unknown_kind_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("apiVersion: nope.io/v1\nkind: Thing\nmetadata: {name: t}\n")
    with pytest.raises(InvalidInputError, match="no kind Thing"):
        load_manifests(ApiServer(FakeBackend()), [str(path)])
