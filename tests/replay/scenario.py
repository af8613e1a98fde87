"""A realistic recorded session for replay and adapter tests, written with RecordingWriter.

Three actors: kubectl, the Deployment controller and a widget operator with two workers
whose status writes form a reconcile loop. Includes 409/404/403/500 errors, a slow call,
a delete, reconcile spans and call sites. ``Scenario.marks`` names notable sequence numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recorder.storage import CallFrame, Operation, ReconcileSpan, RecordingWriter, SessionInfo

SESSION = "demo-session"
WIDGET_FILE = "/app/controllers/widget.py"
T0 = 1_700_000_000_000_000_000


def deployment(name: str, rv: int, replicas: int, image: str = "nginx:1.25") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "resourceVersion": str(rv),
            "generation": replicas,
            "labels": {"app": name},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"spec": {"containers": [{"name": "web", "image": image}]}},
        },
        "status": {"replicas": replicas, "readyReplicas": 0},
    }


def widget(rv: int, observed: int) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {
            "name": "w1",
            "namespace": "default",
            "resourceVersion": str(rv),
            "generation": 1,
        },
        "spec": {"size": 3},
        "status": {"observedGeneration": 1, "lastSync": f"t{observed}", "ready": False},
    }


def pod(name: str, rv: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": str(rv)},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
        "status": {"phase": "Running"},
    }


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }


@dataclass
class Scenario:
    path: Path
    session: str = SESSION
    ops: list[Operation] = field(default_factory=list)
    marks: dict[str, int] = field(default_factory=dict)
    spans: list[ReconcileSpan] = field(default_factory=list)

    def add(self, verb: str, kind: str, name: str, mark: str = "", **fields: Any) -> int:
        seq = len(self.ops) + 1
        for key in ("request_body", "response_body"):
            if isinstance(fields.get(key), dict):
                fields[key] = json.dumps(fields[key]).encode()
        api = {"Deployment": "apps/v1", "Widget": "example.com/v1"}.get(kind, "v1")
        fields.setdefault("api_version", api)
        fields.setdefault("namespace", "default")
        fields.setdefault("status_code", 200)
        fields.setdefault("duration_us", 2000 + seq * 10)
        fields.setdefault("resource", kind.lower() + "s")
        op = Operation(SESSION, 0, T0 + seq * 50_000_000, verb, kind=kind, name=name, **fields)
        self.ops.append(op)
        if mark:
            self.marks[mark] = seq
        return seq


WIDGET_SITE = (CallFrame(WIDGET_FILE, 42, "reconcile"), CallFrame("/app/main.py", 10, "run"))
STATUS_SITE = (CallFrame(WIDGET_FILE, 57, "update_status"), CallFrame(WIDGET_FILE, 44, "reconcile"))


def _prologue(s: Scenario) -> None:
    s.add(
        "create",
        "Deployment",
        "web",
        "create_web",
        actor="kubectl",
        thread="main",
        request_body=deployment("web", 0, 1),
        response_body=deployment("web", 10, 1),
        status_code=201,
    )
    s.add(
        "watch",
        "Deployment",
        "web",
        event_type="ADDED",
        actor="deployment-controller",
        thread="informer",
        response_body=deployment("web", 10, 1),
    )
    s.add(
        "create",
        "Pod",
        "web-abc",
        "create_pod",
        actor="deployment-controller",
        thread="sync",
        response_body=pod("web-abc", 11),
        status_code=201,
    )
    s.add(
        "get",
        "Pod",
        "gone",
        "not_found",
        actor="deployment-controller",
        thread="sync",
        status_code=404,
        error_code=404,
        error_reason="NotFound",
        error_message='pods "gone" not found',
        response_body=status(404, "NotFound", "gone"),
    )
    s.add(
        "patch",
        "Deployment",
        "web",
        "scale_to_3",
        actor="widget-operator",
        thread="worker-1",
        patch_type="application/merge-patch+json",
        request_body={"spec": {"replicas": 3}},
        response_body=deployment("web", 12, 3),
        call_site=WIDGET_SITE,
        span_id=1,
    )


def _widget_loop(s: Scenario, repeats: int) -> None:
    rv = 20
    for i in range(repeats):
        span = 2 + i
        s.add(
            "get",
            "Widget",
            "w1",
            actor="widget-operator",
            thread="worker-2",
            span_id=span,
            response_body=widget(rv, i),
            call_site=WIDGET_SITE,
        )
        rv += 1
        s.add(
            "update",
            "Widget",
            "w1",
            "loop_update" if i == 0 else "",
            actor="widget-operator",
            thread="worker-2",
            subresource="status",
            span_id=span,
            call_site=STATUS_SITE,
            request_body=widget(rv - 1, i + 1),
            response_body=widget(rv, i + 1),
        )
        s.add(
            "watch",
            "Widget",
            "w1",
            event_type="MODIFIED",
            actor="widget-operator",
            thread="informer",
            response_body=widget(rv, i + 1),
        )


def _errors_and_changes(s: Scenario) -> None:
    s.add(
        "update",
        "Deployment",
        "web",
        "conflict",
        actor="deployment-controller",
        thread="sync",
        status_code=409,
        error_code=409,
        error_reason="Conflict",
        error_message="the object has been modified",
        request_body=deployment("web", 10, 2),
        response_body=status(409, "Conflict", "modified"),
    )
    s.add(
        "list",
        "Secret",
        "",
        "forbidden",
        actor="widget-operator",
        thread="worker-1",
        status_code=403,
        error_code=403,
        error_reason="Forbidden",
        error_message='secrets is forbidden: User "widget" cannot list',
        resource="secrets",
    )
    s.add(
        "patch",
        "Deployment",
        "web",
        "scale_to_5",
        actor="kubectl",
        thread="main",
        request_body={"spec": {"replicas": 5}},
        response_body=deployment("web", 30, 5),
    )
    s.add(
        "delete",
        "Pod",
        "web-abc",
        "delete_pod",
        actor="deployment-controller",
        thread="sync",
        response_body=pod("web-abc", 31),
        duration_us=2_500_000,
    )
    s.add(
        "get",
        "Deployment",
        "web",
        "server_error",
        actor="widget-operator",
        thread="worker-1",
        status_code=500,
        error_code=500,
        error_reason="InternalError",
        error_message="etcd timeout",
    )
    s.add(
        "patch",
        "Deployment",
        "web",
        "image_change",
        actor="kubectl",
        thread="main",
        request_body={
            "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}}
        },
        response_body=deployment("web", 32, 5, image="nginx:1.26"),
    )
    s.add(
        "get",
        "Deployment",
        "web",
        "last",
        actor="widget-operator",
        thread="worker-1",
        response_body=deployment("web", 32, 5, image="nginx:1.26"),
        call_site=WIDGET_SITE,
    )


def build_scenario(directory: Path, loop_repeats: int = 6) -> Scenario:
    """Write the demo session into ``directory/demo.db`` and describe it."""
    scenario = Scenario(directory / "demo.db")
    _prologue(scenario)
    _widget_loop(scenario, loop_repeats)
    _errors_and_changes(scenario)
    with RecordingWriter(str(scenario.path)) as writer:
        writer.begin_session(SessionInfo(SESSION, started_ns=T0, operator="widget-operator"))
        spans = [
            ReconcileSpan(
                SESSION, 1, "Widget", "default", "w1", "widget-operator", "worker-1", start_ns=T0
            )
        ]
        spans += [
            ReconcileSpan(
                SESSION,
                2 + i,
                "Widget",
                "default",
                "w1",
                "widget-operator",
                "worker-2",
                start_ns=T0 + i,
            )
            for i in range(loop_repeats)
        ]
        writer.upsert_spans(spans)
        writer.append(scenario.ops)
        writer.end_session(SESSION)
    scenario.spans = spans
    return scenario
