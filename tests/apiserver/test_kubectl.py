"""The real kubectl against the mock API server."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from kreplay_dap.apiserver import RunningServer
from tests.apiserver.helpers import OPEN_SCHEMA, deployment, kubectl, kubectl_command

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
WATCH_DEADLINE_SECONDS = 60


def write_manifest(tmp_path: Path, *documents: Any) -> str:
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    return str(path)


def get_json(kubeconfig: str, *args: str) -> Any:
    return json.loads(kubectl(kubeconfig, "get", *args, "-o", "json").stdout)


def test_get_namespaces_and_version(kubeconfig: str) -> None:
    assert "default" in kubectl(kubeconfig, "get", "namespaces").stdout
    assert "v1.32.0-kreplay" in kubectl(kubeconfig, "version").stdout


def test_create_get_describe_delete(kubeconfig: str, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, deployment("web", replicas=2))
    assert "deployment.apps/web created" in kubectl(kubeconfig, "create", "-f", manifest).stdout
    table = kubectl(kubeconfig, "get", "deployments").stdout.splitlines()
    assert table[0].split()[:2] == ["NAME", "READY"] and table[1].split()[:2] == ["web", "0/2"]
    described = kubectl(kubeconfig, "describe", "deployment", "web").stdout
    assert "Name:" in described and "web" in described and "2 desired" in described
    again = kubectl(kubeconfig, "create", "-f", manifest, check=False)
    assert again.returncode != 0 and "AlreadyExists" in again.stderr
    assert 'deployment.apps "web" deleted' in kubectl(kubeconfig, "delete", "deploy", "web").stdout
    missing = kubectl(kubeconfig, "get", "deploy", "web", check=False)
    assert 'deployments.apps "web" not found' in missing.stderr


def test_apply_creates_then_configures(kubeconfig: str, tmp_path: Path) -> None:
    body = deployment("api", replicas=1)
    assert "created" in kubectl(kubeconfig, "apply", "-f", write_manifest(tmp_path, body)).stdout
    body["spec"]["replicas"] = 4
    assert "configured" in kubectl(kubeconfig, "apply", "-f", write_manifest(tmp_path, body)).stdout
    obj = get_json(kubeconfig, "deploy", "api")
    assert obj["spec"]["replicas"] == 4
    assert obj["metadata"]["generation"] == 2
    assert "unchanged" in kubectl(kubeconfig, "apply", "-f", write_manifest(tmp_path, body)).stdout


def test_patch_merge_json_strategic(kubeconfig: str, tmp_path: Path) -> None:
    kubectl(kubeconfig, "create", "-f", write_manifest(tmp_path, deployment("web")))
    kubectl(kubeconfig, "patch", "deploy", "web", "--type=merge", "-p", '{"spec":{"replicas":3}}')
    kubectl(kubeconfig, "patch", "deploy", "web", "--type=json",
            "-p", '[{"op":"add","path":"/metadata/annotations","value":{"a":"b"}}]')  # fmt: skip
    strategic = (
        '{"spec":{"template":{"spec":{"containers":[{"name":"main","image":"nginx:1.26"}]}}}}'
    )
    kubectl(kubeconfig, "patch", "deploy", "web", "--type=strategic", "-p", strategic)
    obj = get_json(kubeconfig, "deploy", "web")
    containers = obj["spec"]["template"]["spec"]["containers"]
    assert obj["spec"]["replicas"] == 3 and obj["metadata"]["annotations"] == {"a": "b"}
    assert containers == [{"name": "main", "image": "nginx:1.26", "ports": [{"containerPort": 80}],
                           "env": [{"name": "A", "value": "1"}]}]  # fmt: skip


def test_label_and_scale(kubeconfig: str, tmp_path: Path) -> None:
    kubectl(kubeconfig, "create", "-f", write_manifest(tmp_path, deployment("web")))
    kubectl(kubeconfig, "label", "deploy", "web", "tier=frontend")
    assert "scaled" in kubectl(kubeconfig, "scale", "deploy", "web", "--replicas=5").stdout
    shown = kubectl(kubeconfig, "get", "deploy", "-l", "tier=frontend", "-o", "name").stdout
    assert shown.split() == ["deployment.apps/web"]
    assert get_json(kubeconfig, "deploy", "web")["spec"]["replicas"] == 5


def test_unknown_kind_is_reported(kubeconfig: str) -> None:
    result = kubectl(kubeconfig, "get", "widgets", check=False)
    assert result.returncode != 0 and 'resource type "widgets"' in result.stderr


SIZE_COLUMN = {"name": "Size", "type": "integer", "jsonPath": ".spec.size"}


def test_crd_flow(kubeconfig: str, tmp_path: Path) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                           "shortNames": ["wd"]},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": OPEN_SCHEMA},
                               "additionalPrinterColumns": [SIZE_COLUMN]}]},
    }  # fmt: skip
    kubectl(kubeconfig, "apply", "-f", write_manifest(tmp_path, crd))
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"},
              "spec": {"size": 2}}  # fmt: skip
    kubectl(kubeconfig, "apply", "-f", write_manifest(tmp_path, widget))
    assert kubectl(kubeconfig, "get", "wd", "-o", "name").stdout.split() == [
        "widget.example.com/w1"
    ]
    widget["spec"] = {"size": 3}
    assert (
        "configured" in kubectl(kubeconfig, "apply", "-f", write_manifest(tmp_path, widget)).stdout
    )
    assert get_json(kubeconfig, "widget", "w1")["spec"] == {"size": 3}
    table = kubectl(kubeconfig, "get", "widgets").stdout.splitlines()
    assert table[0].split() == ["NAME", "SIZE", "AGE"] and table[1].split()[:2] == ["w1", "3"]


def read_until(process: subprocess.Popen[str], wanted: list[str]) -> list[str]:
    """Read lines until each of ``wanted`` appeared; a timer kills kubectl at the deadline."""
    killer = threading.Timer(WATCH_DEADLINE_SECONDS, process.kill)
    killer.start()
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if all(any(w in seen for seen in lines) for w in wanted):
                break
    finally:
        killer.cancel()
    return lines


def test_get_watch_receives_events(server: RunningServer, kubeconfig: str, tmp_path: Path) -> None:
    def create(name: str) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name},
            "data": {"v": "1"},
        }
        kubectl(kubeconfig, "create", "-f", write_manifest(tmp_path, body))

    create("sentinel")
    columns = "custom-columns=T:.type,NAME:.object.metadata.name,V:.object.data.v"
    command = kubectl_command(
        kubeconfig, "get", "configmaps", "--watch", "--output-watch-events", "-o", columns
    )
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Once the listed sentinel shows, later changes can only arrive through the watch.
        assert read_until(process, ["sentinel"]), process.stderr.read() if process.stderr else ""
        create("seen")
        kubectl(kubeconfig, "patch", "cm", "seen", "--type=merge", "-p", '{"data":{"v":"2"}}')
        kubectl(kubeconfig, "delete", "cm", "seen")
        lines = read_until(process, ["DELETED"])
    finally:
        process.kill()
        process.wait()
    events = [line.split() for line in lines if "seen" in line]
    assert events == [["ADDED", "seen", "1"], ["MODIFIED", "seen", "2"], ["DELETED", "seen", "2"]]


def test_imperative_create_sends_protobuf(kubeconfig: str) -> None:
    kubectl(kubeconfig, "create", "namespace", "team")
    kubectl(kubeconfig, "create", "configmap", "c1", "-n", "team", "--from-literal=a=1")
    kubectl(
        kubeconfig, "create", "secret", "generic", "s1", "-n", "team", "--from-literal=pw=hunter2"
    )
    kubectl(kubeconfig, "create", "serviceaccount", "bot", "-n", "team")
    assert get_json(kubeconfig, "configmap", "c1", "-n", "team")["data"] == {"a": "1"}
    assert get_json(kubeconfig, "secret", "s1", "-n", "team")["data"] == {"pw": "aHVudGVyMg=="}
    assert (
        get_json(kubeconfig, "serviceaccount", "bot", "-n", "team")["metadata"]["namespace"]
        == "team"
    )
    refused = kubectl(kubeconfig, "create", "deployment", "d", "--image=nginx", check=False)
    assert refused.returncode != 0 and "protobuf only for" in refused.stderr
