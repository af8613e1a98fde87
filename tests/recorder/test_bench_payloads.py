"""The recorder benchmark's payloads are Pods the real client accepts whole."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from typing import Any

import kubernetes
import pytest

from bench.pod_shapes import SHAPES, cluster_pod
from bench.recorder import BLOCK_ORDERS


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_shape_deserializes_to_a_pod_that_round_trips(shape: str) -> None:
    document = SHAPES[shape](7)
    api: Any = kubernetes.client.ApiClient()
    pod = api.deserialize(json.dumps(document), "V1Pod", "application/json")
    assert isinstance(pod, kubernetes.client.V1Pod)
    assert pod.metadata is not None and pod.metadata.resource_version == "1007"
    # Nothing the client does not know: its own serialization keeps every field.
    assert leaf_paths(api.sanitize_for_serialization(pod)) == leaf_paths(document)


def leaf_paths(document: Any) -> set[str]:
    """Every path to a non-null scalar or an empty container (timestamps differ in form)."""
    paths: set[str] = set()
    pending: list[tuple[str, Any]] = [("", document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, dict) and value:
            pending.extend((f"{path}.{key}", item) for key, item in value.items())
        elif isinstance(value, list) and value:
            pending.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
        elif value is not None:
            paths.add(path)
    return paths


def test_the_cluster_pod_carries_what_an_api_server_adds() -> None:
    pod = cluster_pod(0)
    assert [entry["manager"] for entry in pod["metadata"]["managedFields"]] == [
        "kube-controller-manager",
        "kubelet",
    ]
    assert pod["spec"]["volumes"][0]["projected"]["sources"]
    assert len(pod["status"]["conditions"]) == 5
    assert 4000 < len(json.dumps(pod, separators=(",", ":"))) < 8000


def test_block_orders_let_every_client_follow_every_client_equally_often() -> None:
    """What a benchmark block leaves behind (the recorder's next batch) must fall evenly on
    plain and recorded blocks: over a cycle of the orders, each transition comes twice."""
    assert sorted(BLOCK_ORDERS) == sorted(itertools.permutations(range(3)))
    blocks = [client for order in BLOCK_ORDERS for client in order]
    transitions = Counter(zip(blocks, blocks[1:] + blocks[:1], strict=True))
    assert transitions == {(a, b): 2 for a in range(3) for b in range(3)}
