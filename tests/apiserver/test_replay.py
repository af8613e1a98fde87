"""Replay mode: state as of step N, recorded watch order, recorded answers, divergences."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from kreplay_dap.apiserver import ApiRequest, ApiServer, start_server
from kreplay_dap.apiserver.replay import Divergence, ReplayBackend, ReplayHooks
from recorder.errors import InvalidInputError, UnknownSessionError
from recorder.storage import Recording, open_recording
from tests.apiserver.helpers import kubectl
from tests.apiserver.recording_fixture import EXPECTED_AT_STEP, SESSION, write_recording

client: Any = kubernetes.client
config: Any = kubernetes.config
watch: Any = kubernetes.watch
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def recording(tmp_path: Path) -> Iterator[Recording]:
    opened = open_recording(write_recording(tmp_path / "rec.db"))
    yield opened
    opened.close()


def python_client(kubeconfig: str) -> Any:
    configuration = client.Configuration()
    config.load_kube_config(kubeconfig, client_configuration=configuration)
    return client.ApiClient(configuration)


@needs_kubectl
@pytest.mark.parametrize("step", sorted(EXPECTED_AT_STEP))
def test_kubectl_sees_state_as_of_step(recording: Recording, tmp_path: Path, step: int) -> None:
    expected_configmaps, expected_replicas = EXPECTED_AT_STEP[step]
    with start_server(ReplayBackend(recording, SESSION, step, pace="manual")) as server:
        kubeconfig = server.write_kubeconfig(str(tmp_path / "kc"))
        listed = json.loads(kubectl(kubeconfig, "get", "configmaps", "-o", "json").stdout)
        configmaps = {i["metadata"]["name"]: i["data"]["v"] for i in listed["items"]}
        assert configmaps == expected_configmaps
        deployments = json.loads(kubectl(kubeconfig, "get", "deployments", "-o", "json").stdout)
        replicas = [i["spec"]["replicas"] for i in deployments["items"]]
        assert replicas == ([] if expected_replicas is None else [expected_replicas])
        if step >= 3:
            widget = json.loads(
                kubectl(kubeconfig, "get", "widgets.example.com", "w", "-o", "json").stdout
            )
            assert widget["spec"] == {"size": 3}


def test_recorded_resource_versions_are_kept(recording: Recording) -> None:
    backend = ReplayBackend(recording, SESSION, 4, pace="manual")
    info = backend.state.registry.by_kind("apps", "Deployment")
    assert info is not None
    stored = backend.state.get(info, "default", "web")
    assert stored is not None and stored.obj["metadata"]["resourceVersion"] == "13"


def test_watches_replay_recorded_order(recording: Recording, tmp_path: Path) -> None:
    backend = ReplayBackend(recording, SESSION, 1, pace="manual")
    with (
        start_server(backend) as server,
        python_client(server.write_kubeconfig(str(tmp_path / "kc"))) as api,
    ):
        core = client.CoreV1Api(api)
        since = core.list_namespaced_config_map("default").metadata.resource_version
        assert backend.advance() == 5
        seen = []
        watcher = watch.Watch()
        for event in watcher.stream(core.list_namespaced_config_map, "default",
                                    resource_version=since, timeout_seconds=10):  # fmt: skip
            seen.append(
                (
                    event["type"],
                    event["object"].metadata.name,
                    (event["object"].data or {}).get("v"),
                )
            )
            if len(seen) == 4:
                watcher.stop()
    assert seen == [("ADDED", "cfg", "1"), ("MODIFIED", "cfg", "2"), ("ADDED", "out", "x"),
                    ("DELETED", "cfg", "2")]  # fmt: skip


def test_fast_pace_feeds_events_after_start(recording: Recording, tmp_path: Path) -> None:
    delivered: list[int] = []
    hooks = ReplayHooks(on_event_delivered=lambda op: delivered.append(op.seq))
    backend = ReplayBackend(recording, SESSION, 4, pace="fast", hooks=hooks)
    with (
        start_server(backend) as server,
        python_client(server.write_kubeconfig(str(tmp_path / "kc"))) as api,
    ):
        names = []
        watcher = watch.Watch()
        for event in watcher.stream(client.CoreV1Api(api).list_namespaced_config_map, "default",
                                    resource_version="14", timeout_seconds=10):  # fmt: skip
            names.append((event["type"], event["object"].metadata.name))
            if len(names) == 2:
                watcher.stop()
    assert names == [("ADDED", "out"), ("DELETED", "cfg")]
    assert delivered == [5, 6, 8, 10]


def test_matching_write_gets_recorded_response_and_other_writes_diverge(
    recording: Recording, tmp_path: Path
) -> None:
    reported: list[Divergence] = []
    backend = ReplayBackend(recording, SESSION, 3, pace="manual",
                            hooks=ReplayHooks(on_divergence=reported.append))  # fmt: skip
    with (
        start_server(backend) as server,
        python_client(server.write_kubeconfig(str(tmp_path / "kc"))) as api,
    ):
        apps = client.AppsV1Api(api)
        answer = apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 7}})
        assert answer.spec.replicas == 7  # a patch, not the recorded update: applied in memory
        assert len(backend.divergences()) == 1
        core = client.CoreV1Api(api)
        body = {"metadata": {"name": "surprise"}, "data": {"a": "b"}}
        created = core.create_namespaced_config_map("default", body)
        assert core.read_namespaced_config_map("surprise", "default").data == {"a": "b"}
    assert created.metadata.name == "surprise"
    assert server.divergences == backend.divergences()
    assert [d.describe() for d in backend.divergences()] == [d.describe() for d in reported]
    assert len(reported) == 2
    assert (reported[0].verb, reported[0].name, reported[0].expected_seq) == ("patch", "web", 4)
    assert (reported[1].verb, reported[1].name, reported[1].expected_seq) == (
        "create",
        "surprise",
        4,
    )


def test_matching_update_answers_with_recorded_body(recording: Recording, tmp_path: Path) -> None:
    backend = ReplayBackend(recording, SESSION, 3, pace="manual")
    with (
        start_server(backend) as server,
        python_client(server.write_kubeconfig(str(tmp_path / "kc"))) as api,
    ):
        apps = client.AppsV1Api(api)
        current = apps.read_namespaced_deployment("web", "default")
        current.spec.replicas = 2
        answer = apps.replace_namespaced_deployment("web", "default", current)
        assert (answer.metadata.resource_version, answer.spec.replicas) == ("13", 2)
        assert backend.next_recorded_write().seq == 7  # type: ignore[union-attr]
        core = client.CoreV1Api(api)
        created = core.create_namespaced_config_map(
            "default", {"metadata": {"name": "out"}, "data": {}}
        )
        assert created.metadata.resource_version == "15" and created.data == {"v": "x"}
    assert backend.divergences() == []


def test_dry_run_writes_leave_the_recording_and_the_state_alone(
    recording: Recording, tmp_path: Path
) -> None:
    backend = ReplayBackend(recording, SESSION, 3, pace="manual")
    with (
        start_server(backend) as server,
        python_client(server.write_kubeconfig(str(tmp_path / "kc"))) as api,
    ):
        apps = client.AppsV1Api(api)
        before = apps.read_namespaced_deployment("web", "default")
        before.spec.replicas = 2  # exactly the recorded update (#4), but a dry run
        tried = apps.replace_namespaced_deployment("web", "default", before, dry_run="All")
        assert tried.spec.replicas == 2 and tried.metadata.resource_version == "10"
        patched = apps.patch_namespaced_deployment(
            "web", "default", {"spec": {"replicas": 42}}, dry_run="All"
        )
        assert patched.spec.replicas == 42
        core = client.CoreV1Api(api)
        created = core.create_namespaced_config_map(
            "default", {"metadata": {"name": "out"}, "data": {}}, dry_run="All"
        )
        assert created.data == {}  # computed from the served state, not the recorded answer
        assert backend.next_recorded_write().seq == 4  # type: ignore[union-attr]
        after = apps.read_namespaced_deployment("web", "default")
        assert (after.metadata.resource_version, after.spec.replicas) == ("10", 1)
        listed = core.list_namespaced_config_map("default").items
        assert [i.metadata.name for i in listed] == ["cfg"]  # seeded by step 2, no "out"
        answer = apps.replace_namespaced_deployment("web", "default", before)
        assert answer.metadata.resource_version == "13"  # the recorded update, still due
    assert backend.divergences() == []


def _serve(*args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "kreplay_dap.cli.main", "serve", *args]
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO_ROOT, env=environment)  # fmt: skip


@needs_kubectl
def test_cli_serves_replay_and_reports_divergences(tmp_path: Path) -> None:
    database = write_recording(tmp_path / "rec.db")
    kubeconfig = str(tmp_path / "kc")
    process = _serve(
        SESSION, "-d", database, "--step", "4", "--pace", "manual", "--kubeconfig-out", kubeconfig
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        assert first_line.startswith("kreplay API server listening on http://127.0.0.1:"), (
            first_line
        )
        deployment = json.loads(kubectl(kubeconfig, "get", "deploy", "web", "-o", "json").stdout)
        assert deployment["spec"]["replicas"] == 2
        kubectl(kubeconfig, "label", "configmap", "cfg", "touched=yes")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "divergence: patch ConfigMap default/cfg does not match the recording" in stderr
    assert "1 divergence(s) from the recording" in stderr


@needs_kubectl
def test_cli_serves_manifests(tmp_path: Path) -> None:
    manifest = tmp_path / "objects.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n---\n"
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: team}, data: {k: v}}\n"
    )
    kubeconfig = str(tmp_path / "kc")
    process = _serve("--load", str(manifest), "--kubeconfig-out", kubeconfig)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("kreplay API server listening on")
        shown = kubectl(kubeconfig, "get", "configmaps", "-n", "team", "-o", "name").stdout
        assert shown.split() == ["configmap/a"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert process.returncode == 0


def test_cli_refuses_remote_address_without_flag() -> None:
    process = _serve("--empty", "--address", "0.0.0.0")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2 and "--allow-remote" in stderr


def test_cli_rejects_unknown_session(tmp_path: Path) -> None:
    process = _serve("nope", "-d", write_recording(tmp_path / "rec.db"))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2 and "unknown session 'nope'" in stderr


def test_recorded_pace_feeder_delivers_every_event(recording: Recording) -> None:
    done = threading.Event()
    delivered: list[int] = []

    def note(op: Any) -> None:
        delivered.append(op.seq)
        if len(delivered) == 5:
            done.set()

    backend = ReplayBackend(recording, SESSION, 1, pace="recorded",
                            hooks=ReplayHooks(on_event_delivered=note))  # fmt: skip
    backend.start()
    try:
        assert done.wait(60)
    finally:
        backend.stop()
    assert delivered == [2, 5, 6, 8, 10]
    assert backend.position == 10 and backend.pending_events() == 0


def test_bad_arguments_are_rejected(recording: Recording) -> None:
    with pytest.raises(InvalidInputError):
        ReplayBackend(recording, SESSION, 0, pace="slow")
    with pytest.raises(UnknownSessionError):
        ReplayBackend(recording, "missing")


@needs_kubectl
def test_cli_remote_address_needs_flag_and_warns(tmp_path: Path) -> None:
    kubeconfig = str(tmp_path / "kc")
    process = _serve(
        "--empty", "--address", "0.0.0.0", "--allow-remote", "--kubeconfig-out", kubeconfig
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(
            "kreplay API server listening on http://127.0.0.1:"
        )
        assert "default" in kubectl(kubeconfig, "get", "namespaces").stdout
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert "warning: binding 0.0.0.0" in stderr


def test_watch_started_before_replayed_events_skips_older_ones(recording: Recording) -> None:
    backend = ReplayBackend(recording, SESSION, 4, pace="manual")
    api = ApiServer(backend)
    request = ApiRequest.from_target(
        "GET", "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=14&timeoutSeconds=5"
    )
    response = api.handle(request)
    assert response.stream is not None
    assert next(response.stream) is None  # positioned at the (empty) log end: an idle tick
    assert backend.advance() == 4
    events: list[tuple[str, str]] = []
    for chunk in response.stream:
        if chunk:
            lines = [json.loads(line) for line in chunk.splitlines()]
            events.extend((e["type"], e["object"]["metadata"]["name"]) for e in lines)
        if len(events) >= 2:
            break
    assert events == [("ADDED", "out"), ("DELETED", "cfg")]


def test_state_stays_at_step_until_a_client_watches(recording: Recording, tmp_path: Path) -> None:
    """``kreplay serve SESSION --step N``: kubectl looks around the cluster as of N; the
    recorded events after N flow only once a client (an operator) watches."""
    delivered: list[int] = []
    hooks = ReplayHooks(on_event_delivered=lambda op: delivered.append(op.seq))
    backend = ReplayBackend(recording, SESSION, 4, pace="fast", hooks=hooks,
                            feed_on_first_watch=True)  # fmt: skip
    expected_configmaps, _ = EXPECTED_AT_STEP[4]
    with (
        start_server(backend) as server,
        python_client(server.write_kubeconfig(str(tmp_path / "kc"))) as api,
    ):
        core = client.CoreV1Api(api)
        for _ in range(3):  # repeated reads: nothing moves without a watcher
            listed = core.list_namespaced_config_map("default")
            assert {i.metadata.name: i.data["v"] for i in listed.items} == expected_configmaps
        assert delivered == []
        recorded = [
            (op.event_type, op.name)
            for op in recording.operations(SESSION, 5)
            if op.verb == "watch" and op.kind == "ConfigMap"
        ]
        names = []
        watcher = watch.Watch()
        for event in watcher.stream(core.list_namespaced_config_map, "default",
                                    resource_version=listed.metadata.resource_version,
                                    timeout_seconds=10):  # fmt: skip
            names.append((event["type"], event["object"].metadata.name))
            if len(names) == len(recorded):
                watcher.stop()
    assert recorded and names == recorded
    assert delivered == [5, 6, 8, 10]
