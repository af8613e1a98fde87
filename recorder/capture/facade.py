"""The original tool's facade, for people following its README, over ``Recorder``.

``RecordingClient(Config(client=api_client, database="recordings.db", session_id=...,
max_sequence=...))`` with ``record_get/record_list/record_create/record_update/
record_delete(kind, namespace, name, ...)``. Each call goes through the instrumented
``ApiClient``, so it is recorded exactly like a typed-API call, and fails the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recorder.capture.recorder import Recorder
from recorder.capture.routes import BUILTIN_KINDS
from recorder.errors import InvalidInputError

_RESOURCE_OF_KIND = {kind: resource for resource, kind in BUILTIN_KINDS.items()}
_GROUP_VERSIONS = {
    "apps/v1": {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ControllerRevision"},
    "batch/v1": {"Job", "CronJob"},
    "networking.k8s.io/v1": {"Ingress", "NetworkPolicy"},
    "coordination.k8s.io/v1": {"Lease"},
    "rbac.authorization.k8s.io/v1": {
        "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding",
    },
    "storage.k8s.io/v1": {"StorageClass"},
    "apiextensions.k8s.io/v1": {"CustomResourceDefinition"},
    "autoscaling/v2": {"HorizontalPodAutoscaler"},
    "policy/v1": {"PodDisruptionBudget"},
    "discovery.k8s.io/v1": {"EndpointSlice"},
    "scheduling.k8s.io/v1": {"PriorityClass"},
    "authentication.k8s.io/v1": {"TokenReview"},
}  # fmt: skip


@dataclass
class Config:
    """The Go tool's ``recorder.Config``; ``database`` is the recording file's path."""

    client: Any
    database: str
    session_id: str | None = None
    max_sequence: int = 1_000_000
    actor: str | None = None


class RecordingClient:
    """Thin facade: ``record_get("Pod", "default", "web")`` and friends."""

    def __init__(self, config: Config) -> None:
        self.recorder = Recorder(
            config.database,
            config.session_id,
            max_ops=config.max_sequence,
            actor=config.actor,
        )
        self.client = self.recorder.instrument(config.client)

    def enable(self) -> None:
        self.recorder.enable()

    def disable(self) -> None:
        self.recorder.disable()

    def close(self) -> None:
        self.recorder.close()

    def record_get(self, kind: str, namespace: str, name: str, **where: str) -> Any:
        return self._call("GET", self._path(kind, namespace, name, **where))

    def record_list(self, kind: str, namespace: str = "", **where: str) -> Any:
        return self._call("GET", self._path(kind, namespace, "", **where))

    def record_create(self, kind: str, namespace: str, body: Any, **where: str) -> Any:
        return self._call("POST", self._path(kind, namespace, "", **where), body)

    def record_update(self, kind: str, namespace: str, name: str, body: Any, **where: str) -> Any:
        return self._call("PUT", self._path(kind, namespace, name, **where), body)

    def record_delete(self, kind: str, namespace: str, name: str, **where: str) -> Any:
        return self._call("DELETE", self._path(kind, namespace, name, **where))

    def _path(
        self, kind: str, namespace: str, name: str, api_version: str = "", plural: str = ""
    ) -> str:
        """The resource path of a kind; custom resources pass ``api_version`` and ``plural``."""
        resource = plural or _RESOURCE_OF_KIND.get(kind, "")
        if not resource:
            raise InvalidInputError(f"unknown kind {kind!r}: pass api_version= and plural=")
        version = api_version or next(
            (gv for gv, kinds in _GROUP_VERSIONS.items() if kind in kinds), "v1"
        )
        base = f"/api/{version}" if "/" not in version else f"/apis/{version}"
        scope = f"/namespaces/{namespace}" if namespace else ""
        return f"{base}{scope}/{resource}" + (f"/{name}" if name else "")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        api = self.client
        request = api.param_serialize(
            method, path, header_params={"Accept": "application/json",
            "Content-Type": "application/json"}, body=body, auth_settings=["BearerToken"],
        )  # fmt: skip
        response = api.call_api(*request)
        response.read()
        return api.response_deserialize(response, {"2XX": "object"}).data
