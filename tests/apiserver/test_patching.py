"""Patch application: RFC 6902, RFC 7386 and strategic merge with its directives."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kreplay_dap.apiserver.patching import json_patch, merge_patch, strategic_merge_patch
from kreplay_dap.apiserver.status import ApiStatusError

APP = {
    "name": "app",
    "image": "app:1",
    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
    "ports": [{"containerPort": 80}],
    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
}
POD_SPEC: dict[str, Any] = {
    "containers": [APP, {"name": "sidecar", "image": "side:1"}],
    "volumes": [{"name": "data", "emptyDir": {}}],
    "tolerations": [{"key": "a"}],
}  # fmt: skip


def test_merge_patch_rfc7386_examples() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}}
    assert merge_patch(target, {"a": "z", "c": {"f": None}}) == {"a": "z", "c": {"d": "e"}}
    assert merge_patch({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}
    assert merge_patch({"a": "b"}, ["c"]) == ["c"]
    assert target == {"a": "b", "c": {"d": "e", "f": "g"}}  # the input is not modified


def test_json_patch_operations() -> None:
    document = {"a": {"b": [1, 2]}, "c": 1}
    patch = [
        {"op": "add", "path": "/a/b/-", "value": 3},
        {"op": "add", "path": "/a/b/0", "value": 0},
        {"op": "remove", "path": "/c"},
        {"op": "replace", "path": "/a/b/1", "value": 10},
        {"op": "copy", "from": "/a/b", "path": "/copied"},
        {"op": "move", "from": "/copied", "path": "/moved"},
        {"op": "test", "path": "/moved/0", "value": 0},
        {"op": "add", "path": "/with~1slash", "value": True},
    ]
    assert json_patch(document, patch) == {
        "a": {"b": [0, 10, 2, 3]},
        "moved": [0, 10, 2, 3],
        "with/slash": True,
    }


@pytest.mark.parametrize(
    ("patch", "code"),
    [
        ({"op": "add"}, 400),
        ([{"op": "remove", "path": "/missing"}], 422),
        ([{"op": "test", "path": "/c", "value": 2}], 422),
        ([{"op": "frobnicate", "path": "/c"}], 400),
        ([{"op": "add", "path": "c", "value": 1}], 400),
        ([{"op": "replace", "path": "/a/9", "value": 1}], 422),
    ],
)
def test_json_patch_errors(patch: Any, code: int) -> None:
    with pytest.raises(ApiStatusError) as error:
        json_patch({"a": [1], "c": 1}, patch)
    assert error.value.code == code


def test_strategic_merge_by_keys() -> None:
    env = [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]
    ports = [{"containerPort": 80, "protocol": "TCP"}]
    patch = {"containers": [{"name": "app", "image": "app:2", "env": env, "ports": ports}],
             "tolerations": [{"key": "b"}]}  # fmt: skip
    merged = strategic_merge_patch(POD_SPEC, patch)
    app = merged["containers"][0]
    assert [c["name"] for c in merged["containers"]] == ["app", "sidecar"]
    assert (
        app["image"] == "app:2" and app["volumeMounts"] == POD_SPEC["containers"][0]["volumeMounts"]
    )
    assert app["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "3"},
        {"name": "C", "value": "4"},
    ]
    assert app["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert merged["tolerations"] == [{"key": "b"}]  # no merge key: replaced


def test_strategic_merge_directives() -> None:
    patch = {
        "containers": [{"name": "sidecar", "$patch": "delete"},
                       {"name": "app", "env": [{"name": "A", "$patch": "delete"}]}],
        "volumes": [{"name": "cache", "emptyDir": {}}, {"$patch": "replace"}],
        "$setElementOrder/containers": [{"name": "app"}],
    }  # fmt: skip
    merged = strategic_merge_patch(POD_SPEC, patch)
    assert [c["name"] for c in merged["containers"]] == ["app"]
    assert merged["containers"][0]["env"] == [{"name": "B", "value": "2"}]
    assert merged["volumes"] == [{"name": "cache", "emptyDir": {}}]
    replaced = strategic_merge_patch({"m": {"a": 1, "b": 2}}, {"m": {"$patch": "replace", "c": 3}})
    assert replaced == {"m": {"c": 3}}
    deleted = strategic_merge_patch({"m": {"a": 1}, "n": 1}, {"m": {"$patch": "delete"}})
    assert deleted == {"n": 1}
    retained = strategic_merge_patch({"s": {"a": 1, "b": 2}}, {"s": {"c": 3, "$retainKeys": ["c"]}})
    assert retained == {"s": {"c": 3}}
    finalizers = strategic_merge_patch({"f": ["a", "b"]}, {"$deleteFromPrimitiveList/f": ["a"]})
    assert finalizers == {"f": ["b"]}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=3), json_values, max_size=4),
       st.dictionaries(st.text(max_size=3), json_values, max_size=4))  # fmt: skip
def test_merge_patch_properties(target: dict[str, Any], patch: dict[str, Any]) -> None:
    merged = merge_patch(target, patch)
    for key, value in patch.items():
        if value is None:
            assert key not in merged
        elif not isinstance(value, dict):
            assert merged[key] == value
    assert merge_patch(merged, patch) == merged  # applying the same patch again changes nothing
