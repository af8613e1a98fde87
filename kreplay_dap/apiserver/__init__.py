"""Mock kube-apiserver: an in-memory cluster, optionally seeded from and replaying a recording.

In-process use (tests, sample operators, ``kreplay demo``, live replay)::

    from kreplay_dap.apiserver import FakeBackend, start_server

    with start_server(FakeBackend()) as server:      # 127.0.0.1, a free port
        server.write_kubeconfig("/tmp/kubeconfig")   # for kubectl / load_kube_config
        ...                                          # or use server.url directly

``start_server(backend, host="127.0.0.1", port=0) -> RunningServer`` returns once the socket
listens; ``RunningServer`` has ``url``, ``host``, ``port``, ``api`` (the resolver), ``backend``,
``write_kubeconfig(path)``, ``kubeconfig()``, ``divergences`` (replay) and ``stop()``
(idempotent; also on ``with`` exit).

Backends: ``FakeBackend(ClusterState())`` for an empty cluster (namespace "default" exists;
``manifests.load_manifests(server.api, paths)`` seeds it from YAML/JSON), and
``replay.ReplayBackend(recording, session_id, step, pace=..., hooks=ReplayHooks(...))`` for a
recording as of operation ``step``, with ``advance()``, ``divergences()`` (see that module).

Without sockets: ``ApiServer(backend).handle(ApiRequest.from_target("GET", "/api/v1/pods"))``
returns an ``ApiResponse`` (``status``, ``body`` bytes, or ``stream`` for watches).

Not served: server-side apply (415), protobuf bodies other than Namespace/ConfigMap/Secret/
ServiceAccount (415; kubectl's typed ``create deployment`` etc.), full OpenAPI schemas (kubectl
falls back to built-in ones), admission/defaulting beyond server-managed metadata, and the
controllers themselves (no pods appear for a Deployment; ``rollout status`` waits).

Layers: ``state`` (objects, resourceVersion, event log) <- ``objects``/``removal``/``scale``
(lifecycle) and ``patching`` <- ``resolver`` (routing, with ``discovery``, ``listing``,
``watch``, ``tables``) <- ``server`` (HTTP).
"""

from kreplay_dap.apiserver.backend import Backend, FakeBackend, WriteIntent
from kreplay_dap.apiserver.messages import ApiRequest, ApiResponse
from kreplay_dap.apiserver.resolver import ApiServer
from kreplay_dap.apiserver.server import RunningServer, start_server
from kreplay_dap.apiserver.state import ClusterState

__all__ = [
    "ApiRequest",
    "ApiResponse",
    "ApiServer",
    "Backend",
    "ClusterState",
    "FakeBackend",
    "RunningServer",
    "WriteIntent",
    "start_server",
]
