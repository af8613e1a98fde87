"""A sample operator source file and a recording whose call sites point at its lines.

The recording is what the recorder would write for this operator running in a container
(paths under ``/app``): each reconcile reads the Widget and its Deployment, scales the
Deployment (sometimes a 409 Conflict), then writes the Widget's status from two lines.
Those status writes change nothing but status, so they form the seeded reconcile loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from recorder.storage import CallFrame, Operation, RecordingWriter, SessionInfo

REMOTE_ROOT = "/app"
RELATIVE_SOURCE = "controllers/widget.py"
SESSION = "widget-run-1"

OPERATOR_SOURCE = '''\
"""Widget operator: keeps one Deployment per Widget, scaled to spec.replicas."""

from datetime import UTC, datetime

from kubernetes import client

GROUP, VERSION, PLURAL = "example.com", "v1", "widgets"


def reconcile(custom: client.CustomObjectsApi, apps: client.AppsV1Api, ns: str, name: str) -> None:
    widget = custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)  # get-widget
    deployment = apps.read_namespaced_deployment(name, ns)  # get-deployment
    wanted = widget["spec"]["replicas"]
    if deployment.spec.replicas != wanted:
        deployment.spec.replicas = wanted
        try:
            apps.patch_namespaced_deployment(name, ns, {"spec": {"replicas": wanted}})  # patch
        except client.ApiException:  # the bug: retries with the stale object it read
            apps.replace_namespaced_deployment(name, ns, deployment)  # replace-deployment
    now = datetime.now(UTC).isoformat()
    ready = {"status": {"ready": True, "lastReconciled": now}}
    patch_status = custom.patch_namespaced_custom_object_status
    patch_status(GROUP, VERSION, ns, PLURAL, name, ready)  # status-ready
    seen = {"status": {"observedGeneration": widget["metadata"]["generation"]}}
    patch_status(GROUP, VERSION, ns, PLURAL, name, seen)  # status-seen

def untouched_helper() -> str:
    return "never calls the API"
'''


def source_line(marker: str) -> int:
    """1-based line of the call tagged ``# marker`` in the operator source."""
    for number, text in enumerate(OPERATOR_SOURCE.splitlines(), start=1):
        if text.rstrip().endswith(f"# {marker}"):
            return number
    raise KeyError(marker)


@dataclass
class Scenario:
    database: Path
    source: Path
    local_root: Path
    counts: dict[str, int]
    errors: dict[str, int]


def _widget(rv: int, generation: int, status: dict[str, object]) -> bytes:
    return json.dumps(
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w1", "namespace": "default", "resourceVersion": str(rv),
                         "generation": generation, "uid": "uid-w1"},
            "spec": {"replicas": 3},
            "status": status,
        }
    ).encode()  # fmt: skip


def _deployment(rv: int, replicas: int) -> bytes:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "w1", "namespace": "default", "resourceVersion": str(rv),
                         "uid": "uid-d1"},
            "spec": {"replicas": replicas},
        }
    ).encode()  # fmt: skip


class ReconcileRecorder:
    """Appends reconciles of the sample operator to a recording, as the recorder would."""

    def __init__(self, database: Path, file: str) -> None:
        self.database = database
        self.file = file
        self.rv = 100
        self.ts = 1_700_000_000_000_000_000
        self.counts: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.status: dict[str, object] = {}

    def _op(self, marker: str, verb: str, kind: str, body: bytes, status: int = 200) -> Operation:
        self.rv += 1
        self.ts += 5_000_000
        self.counts[marker] = self.counts.get(marker, 0) + 1
        if status >= 400:
            self.errors[marker] = self.errors.get(marker, 0) + 1
        frames = (
            CallFrame(self.file, source_line(marker), "reconcile"),
            CallFrame(f"{REMOTE_ROOT}/main.py", 12, "run"),
        )
        error_code = status if status >= 400 else 0
        api = "apps/v1" if kind == "Deployment" else "example.com/v1"
        return Operation(
            SESSION, 0, self.ts, verb, api_version=api, kind=kind,
            resource=kind.lower() + "s", namespace="default", name="w1",
            resource_version=str(self.rv), response_body=body if status < 400 else None,
            status_code=status, error_code=error_code, duration_us=1500,
            actor="widget-operator", call_site=frames,
        )  # fmt: skip

    def reconciles(self, count: int) -> list[Operation]:
        """Reconciles with the seeded bugs: stale-retry conflicts, status rewritten each time."""
        ops: list[Operation] = []
        for number in range(count):
            ops.append(self._op("get-widget", "get", "Widget", _widget(self.rv, 1, self.status)))
            stale = _deployment(self.rv, 1)  # the replicas never stick: another actor resets them
            ops.append(self._op("get-deployment", "get", "Deployment", stale))
            conflict = number % 2 == 1
            wanted = _deployment(self.rv, 3)
            ops.append(self._op("patch", "patch", "Deployment", wanted, 409 if conflict else 200))
            if conflict:
                ops.append(self._op("replace-deployment", "update", "Deployment", stale, 409))
            self.status = {**self.status, "ready": True, "lastReconciled": self.ts}
            ops.append(
                self._op("status-ready", "patch", "Widget", _widget(self.rv, 1, self.status))
            )
            self.status = {**self.status, "observedGeneration": 1}
            ops.append(self._op("status-seen", "patch", "Widget", _widget(self.rv, 1, self.status)))
            ops.append(self._event(_widget(self.rv, 1, self.status)))
        return ops

    def _event(self, body: bytes) -> Operation:
        """The informer's watch event for our own status write: no operator call site."""
        self.rv += 1
        self.ts += 1_000_000
        return Operation(
            SESSION, 0, self.ts, "watch", event_type="MODIFIED", api_version="example.com/v1",
            kind="Widget", resource="widgets", namespace="default", name="w1",
            resource_version=str(self.rv), response_body=body, actor="widget-operator",
        )  # fmt: skip

    def append(self, count: int) -> None:
        with RecordingWriter(str(self.database)) as writer:
            writer.begin_session(SessionInfo(SESSION, operator="widget-operator"))
            writer.append(self.reconciles(count))


def build(tmp_path: Path, reconciles: int = 8) -> tuple[Scenario, ReconcileRecorder]:
    """Write the operator source under ``tmp_path/op`` and its recording ``tmp_path/rec.db``."""
    local_root = tmp_path / "op"
    source = local_root / RELATIVE_SOURCE
    source.parent.mkdir(parents=True)
    source.write_text(OPERATOR_SOURCE)
    recorder = ReconcileRecorder(tmp_path / "rec.db", f"{REMOTE_ROOT}/{RELATIVE_SOURCE}")
    recorder.append(reconciles)
    scenario = Scenario(tmp_path / "rec.db", source, local_root, recorder.counts, recorder.errors)
    return scenario, recorder
