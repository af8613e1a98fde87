"""A tiny simulated cluster that emits realistic recorded operations.

Actors are generator *processes* that yield the seconds to wait before their next step;
``Sim.run`` interleaves them by simulated time, so bugs hide among other work exactly
as in a real recording. Every write bumps the resourceVersion, refreshes managedFields,
bumps generation on spec changes and delivers watch events to the watchers of its kind.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import json
import random
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from typing import Any

from recorder.storage import Operation, ReconcileSpan

Key = tuple[str, str, str]
Process = Generator[float, None, None]
Body = dict[str, Any]
MAX_STEPS = 200_000
CORE = frozenset({"Pod", "Secret"})
API_VERSIONS = {"Deployment": "apps/v1", "ReplicaSet": "apps/v1", "Job": "batch/v1"}


def setter(path: str, name: str, value: object) -> Callable[[Body], None]:
    """A change setting ``name`` under the dotted ``path`` (created when missing)."""

    def change(body: Body) -> None:
        target = body
        for part in path.split("."):
            target = target.setdefault(part, {})
        target[name] = value

    return change


def unchanged(body: Body) -> None:
    """A write of the object as it is (the caller chose the base)."""


def key_text(key: Key) -> str:
    return f"{key[0]}/{key[1]}/{key[2]}" if key[1] else f"{key[0]}/{key[2]}"


class Sim:
    def __init__(self, session_id: str, rng: random.Random) -> None:
        self.session_id = session_id
        self.rng = rng
        self.now_ns = 1_760_000_000_000_000_000 + rng.randrange(10**12)
        self.rv = rng.randrange(10_000, 90_000)
        self.objects: dict[Key, Body] = {}
        self.history: dict[Key, dict[str, Body]] = {}
        self.ops: list[Operation] = []
        self.spans: list[ReconcileSpan] = []
        self.watchers: dict[str, list[str]] = {}
        self.inbox: dict[str, list[tuple[Key, str]]] = {}
        self.last_writer = ""
        self._span_ids = itertools.count(1)
        self._uids = itertools.count(1)

    # -- clock and processes ----------------------------------------------------------
    def stamp(self) -> str:
        return datetime.fromtimestamp(self.now_ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def run(self, processes: list[Process]) -> None:
        queue: list[tuple[int, int, Process]] = []
        order = itertools.count()
        for process in processes:
            heapq.heappush(queue, (self.now_ns, next(order), process))
        for _ in range(MAX_STEPS):
            if not queue:
                return
            when, _, process = heapq.heappop(queue)
            self.now_ns = max(self.now_ns, when)
            delay = next(process, None)
            if delay is not None:
                heapq.heappush(queue, (self.now_ns + int(delay * 1e9), next(order), process))

    def watch(self, kind: str, actor: str) -> None:
        self.watchers.setdefault(kind, []).append(actor)

    def take(self, actor: str) -> tuple[Key, str] | None:
        """The oldest watch event delivered to ``actor``: (object, who wrote it)."""
        inbox = self.inbox.get(actor)
        return inbox.pop(0) if inbox else None

    # -- objects ------------------------------------------------------------------------
    def new_object(self, kind: str, namespace: str, name: str, spec: Body) -> Body:
        return {
            "apiVersion": API_VERSIONS.get(kind, "v1" if kind in CORE else "example.com/v1"),
            "kind": kind,
            "metadata": {
                "name": name, "namespace": namespace, "uid": f"uid-{next(self._uids):06d}",
                "labels": {"app": name.split("-", maxsplit=1)[0]},
                "creationTimestamp": self.stamp(),
                "generation": 1, "resourceVersion": "", "managedFields": [],
            },
            "spec": spec,
            "status": {},
        }  # fmt: skip

    def _commit(self, actor: str, key: Key, body: Body, spec_changed: bool, sub: str) -> Body:
        self.rv += self.rng.randrange(1, 4)
        metadata = body["metadata"]
        metadata["resourceVersion"] = str(self.rv)
        if spec_changed:
            metadata["generation"] = int(metadata.get("generation", 1)) + 1
        fields = [entry for entry in metadata["managedFields"] if entry["manager"] != actor]
        fields.append({
            "manager": actor, "operation": "Update", "apiVersion": body["apiVersion"],
            "time": self.stamp(), "fieldsType": "FieldsV1", "subresource": sub,
            "fieldsV1": {"f:status": {}} if sub == "status" else {"f:spec": {}},
        })  # fmt: skip
        metadata["managedFields"] = fields
        self.objects[key] = body
        versions = self.history.setdefault(key, {})
        versions[str(self.rv)] = copy.deepcopy(body)
        return body

    def op(self, actor: str, verb: str, key: Key, **fields: Any) -> Operation:
        body = fields.pop("body", None)
        request = fields.pop("request", None)
        operation = Operation(
            self.session_id, 0, self.now_ns, verb, api_version=API_VERSIONS.get(key[0], "v1"),
            kind=key[0], resource=key[0].lower() + "s", namespace=key[1], name=key[2],
            actor=actor, thread=f"{actor}-worker-1",
            duration_us=fields.pop("duration_us", self.rng.randrange(800, 15_000)),
            response_body=None if body is None else json.dumps(body).encode(),
            request_body=None if request is None else json.dumps(request).encode(),
            **fields,
        )  # fmt: skip
        self.ops.append(operation)
        self.now_ns += operation.duration_us * 1000
        return operation

    def _events(self, key: Key, body: Body | None, event: str) -> None:
        for watcher in self.watchers.get(key[0], []):
            self.inbox.setdefault(watcher, []).append((key, self.last_writer))
            rv = body["metadata"]["resourceVersion"] if body else ""
            self.op(watcher, "watch", key, event_type=event, resource_version=rv,
                    body={"type": event, "object": body}, duration_us=0)  # fmt: skip

    # -- verbs --------------------------------------------------------------------------
    def create(self, actor: str, key: Key, spec: Body, span: int | None = None) -> Body:
        self.last_writer = actor
        body = self._commit(actor, key, self.new_object(*key, spec=spec), False, "")
        self.op(actor, "create", key, body=body, request=body, status_code=201,
                resource_version=str(self.rv), generation=1, span_id=span)  # fmt: skip
        self._events(key, body, "ADDED")
        return copy.deepcopy(body)

    def get(self, actor: str, key: Key, span: int | None = None, stale: bool = False) -> Body:
        body = self.objects[key]
        if stale and len(self.history.get(key, {})) > 1:
            versions = list(self.history[key].values())
            body = versions[-2]
        rv = body["metadata"]["resourceVersion"]
        self.op(actor, "get", key, body=body, status_code=200, resource_version=rv, span_id=span)
        return copy.deepcopy(body)

    def list(self, actor: str, kind: str, namespace: str, span: int | None = None) -> list[Body]:
        items = [
            copy.deepcopy(b) for k, b in self.objects.items() if k[0] == kind and k[1] == namespace
        ]
        self.op(actor, "list", (kind, namespace, ""), status_code=200, span_id=span,
                body={"kind": f"{kind}List", "items": items[:50]})  # fmt: skip
        return items

    def write(
        self,
        actor: str,
        key: Key,
        change: Callable[[Body], None],
        span: int | None = None,
        *,
        verb: str = "update",
        sub: str = "",
        base: Body | None = None,
    ) -> Body:
        """An update (or patch) applying ``change`` to ``base`` (default: current object)."""
        self.last_writer = actor
        body = copy.deepcopy(base if base is not None else self.objects[key])
        before = json.dumps(body.get("spec"), sort_keys=True)
        change(body)
        spec_changed = json.dumps(body.get("spec"), sort_keys=True) != before
        request = copy.deepcopy(body)
        body = self._commit(actor, key, body, spec_changed and sub != "status", sub)
        self.op(actor, verb, key, body=body, request=request, status_code=200,
                resource_version=str(self.rv), subresource=sub, span_id=span,
                generation=body["metadata"]["generation"],
                patch_type="application/merge-patch+json" if verb == "patch" else "")  # fmt: skip
        self._events(key, body, "MODIFIED")
        return copy.deepcopy(body)

    def delete(self, actor: str, key: Key, span: int | None = None) -> None:
        self.last_writer = actor
        body = self.objects.pop(key)
        self.rv += 1
        self.op(actor, "delete", key, status_code=200, resource_version=str(self.rv), span_id=span)
        self._events(key, body, "DELETED")

    def fail(self, actor: str, verb: str, key: Key, code: int, reason: str, **fields: Any) -> None:
        self.op(actor, verb, key, status_code=code, error_code=code, error_reason=reason,
                error_message=f"{reason}: {verb} {key_text(key)}", **fields)  # fmt: skip

    # -- reconcile spans ----------------------------------------------------------------
    def begin(self, actor: str, key: Key, trigger: str) -> int:
        span_id = next(self._span_ids)
        self.spans.append(ReconcileSpan(self.session_id, span_id, key[0], key[1], key[2],
                                        actor=actor, thread=f"{actor}-worker-1",
                                        trigger=trigger, start_ns=self.now_ns))  # fmt: skip
        return span_id

    def end(self, span_id: int, error: str = "") -> None:
        span = self.spans[span_id - 1]
        span.end_ns = self.now_ns
        span.error = error
