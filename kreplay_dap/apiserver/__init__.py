"""Mock kube-apiserver: an in-memory cluster, optionally seeded from and replaying a recording.

In-process use (tests, sample operators, ``kreplay demo``, live replay)::

    from kreplay_dap.apiserver import FakeBackend, start_server

    with start_server(FakeBackend()) as server:      # 127.0.0.1, a free port
        server.write_kubeconfig("/tmp/kubeconfig")   # for kubectl / load_kube_config
        ...                                          # or use server.url directly

``start_server(backend, host="127.0.0.1", port=0) -> RunningServer`` returns once the socket
listens; ``RunningServer`` has ``url``, ``host``, ``port``, ``api`` (the resolver), ``backend``,
``write_kubeconfig(path)``, ``kubeconfig()`` and ``stop()`` (idempotent; also on ``with`` exit).

Backends: ``FakeBackend(ClusterState())`` for an empty cluster (namespace "default" exists;
``manifests.load_manifests(state, paths)`` seeds it), and ``replay.ReplayBackend(recording,
session_id, step)`` for a recording as of operation ``step`` (see that module).

Without sockets: ``ApiServer(backend).handle(ApiRequest.from_target("GET", "/api/v1/pods"))``
returns an ``ApiResponse`` (``status``, ``body`` bytes, or ``stream`` for watches).

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
