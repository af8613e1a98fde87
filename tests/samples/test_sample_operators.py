"""The sample operators against the mock API server, as real subprocesses, without recording."""

from __future__ import annotations

import subprocess
import sys

import pytest
from kubernetes import client

from kreplay_dap.demo import wait_for_crd
from tests.samples.harness import REPO_ROOT, WIDGETS, Cluster, cluster_fixture, finish

__all__ = ["cluster_fixture"]  # the ``cluster`` fixture

WIDGET = {
    "apiVersion": "demo.kreplay.dev/v1",
    "kind": "Widget",
    "metadata": {"name": "web"},
    "spec": {"replicas": 2, "image": "nginx:1.27", "message": "hello"},
}


def create_widget(cluster: Cluster, process: subprocess.Popen[str]) -> None:
    wait_for_crd(cluster.api, cluster.observer(process).alive)
    cluster.custom.create_namespaced_custom_object(*WIDGETS, WIDGET)


def test_hotloop_buggy_rewrites_status_until_its_bound(cluster: Cluster) -> None:
    process = cluster.start("hotloop", "--max-reconciles", "15", "--until-idle", "30")
    create_widget(cluster, process)
    code, output = finish(process)

    assert code == 0, output
    assert "reached --max-reconciles 15" in output
    assert output.count("status written") == 15  # every reconcile wrote status: the loop
    widget = cluster.widget()
    assert widget["status"]["observedGeneration"] == 1
    assert widget["status"]["lastReconcileTime"].endswith("Z")
    deployment = client.AppsV1Api(cluster.api).read_namespaced_deployment("web", "default")
    assert deployment.spec.replicas == 2
    assert deployment.metadata is not None
    assert [owner.kind for owner in deployment.metadata.owner_references or []] == ["Widget"]
    config_map = client.CoreV1Api(cluster.api).read_namespaced_config_map("web-config", "default")
    assert config_map.data == {"message": "hello"}


def test_hotloop_fixed_writes_status_once_and_goes_idle(cluster: Cluster) -> None:
    process = cluster.start("hotloop", "--fixed", "--until-idle", "1", "--max-reconciles", "50")
    create_widget(cluster, process)
    observer = cluster.observer(process)
    observer.remember(cluster.widget())
    observer.wait("status", lambda obj: bool(obj and obj.get("status")))
    code, output = finish(process)

    assert code == 0, output
    assert "idle for 1.0s" in output
    assert output.count("status written") == 1
    assert "up to date" in output


def test_conflicts_buggy_retries_a_stale_object_then_gives_up(cluster: Cluster) -> None:
    process = cluster.start("conflicts", "--until-idle", "1", module=True)
    create_widget(cluster, process)
    observer = cluster.observer(process)
    observer.remember(cluster.widget())
    observer.wait("annotation", lambda obj: "annotations" in (obj or {}).get("metadata", {}))
    code, output = finish(process)

    assert code == 0, output
    assert "failed: 409 Conflict" in output  # 1 + 5 stale retries, all refused
    assert "annotated after 0 conflict(s)" in output  # the next reconcile read it afresh


def test_conflicts_fixed_reads_again_and_succeeds(cluster: Cluster) -> None:
    process = cluster.start("conflicts", "--fixed", "--until-idle", "1")
    create_widget(cluster, process)
    observer = cluster.observer(process)
    observer.remember(cluster.widget())
    observer.wait("annotation", lambda obj: "annotations" in (obj or {}).get("metadata", {}))
    code, output = finish(process)

    assert code == 0, output
    assert "409" not in output.replace("annotated after 1 conflict(s)", "")
    assert "annotated after 1 conflict(s)" in output


@pytest.mark.parametrize("module", [False, True])
def test_command_line_contract(module: bool) -> None:
    target = ["-m", "samples.operators.hotloop"] if module else ["samples/operators/hotloop.py"]
    shown = subprocess.run(
        [sys.executable, *target, "--help"], cwd=REPO_ROOT, capture_output=True, text=True,
        check=False, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    for option in ("--namespace", "--fixed", "--until-idle", "--max-reconciles", "--record",
                   "--session"):  # fmt: skip
        assert option in shown.stdout
    refused = subprocess.run(
        [sys.executable, *target, "--until-idle", "0"], cwd=REPO_ROOT, capture_output=True,
        text=True, check=False, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "--until-idle must be positive" in refused.stderr


def test_missing_configuration_is_one_line(tmp_path: object) -> None:
    env = {"PATH": "/usr/bin:/bin", "KUBECONFIG": "/nonexistent/kubeconfig", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "samples/operators/conflicts.py", "--until-idle", "1"], cwd=REPO_ROOT,
        env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("widget-conflicts: error: no Kubernetes configuration")
    assert "Traceback" not in result.stderr


def test_fight_two_controllers_undo_each_other_until_their_bound(cluster: Cluster) -> None:
    bounds = ("--max-reconciles", "8", "--until-idle", "2")  # the first to stop ends the fight
    operator = cluster.start("fight", "--role", "operator", *bounds)
    scaler = cluster.start("fight", "--role", "scaler", *bounds, module=True)
    create_widget(cluster, operator)
    operator_code, operator_output = finish(operator)
    scaler_code, scaler_output = finish(scaler)

    assert operator_code == 0 and scaler_code == 0, operator_output + scaler_output
    assert operator_output.count("updated Deployment web") >= 3  # back to 2, again and again
    assert scaler_output.count("to 4") >= 3  # and back to 4


def test_fight_fixed_operator_leaves_replicas_to_the_scaler(cluster: Cluster) -> None:
    operator = cluster.start("fight", "--role", "operator", "--fixed", "--until-idle", "1")
    scaler = cluster.start("fight", "--role", "scaler", "--fixed", "--until-idle", "1")
    create_widget(cluster, operator)
    operator_code, operator_output = finish(operator)
    scaler_code, scaler_output = finish(scaler)

    assert operator_code == 0 and scaler_code == 0, operator_output + scaler_output
    assert "updated Deployment web" not in operator_output
    assert scaler_output.count("scaled from 2 to 4") == 1
    deployment = client.AppsV1Api(cluster.api).read_namespaced_deployment("web", "default")
    assert deployment.spec is not None and deployment.spec.replicas == 4
