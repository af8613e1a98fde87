"""Mock kube-apiserver: an in-memory cluster, optionally seeded from and replaying a recording.

In-process use (tests, sample operators, ``kreplay demo``, live replay)::

    from kreplay_dap.apiserver import FakeBackend, start_server

    with start_server(FakeBackend()) as server:      # 127.0.0.1, a free port
        server.write_kubeconfig("/tmp/kubeconfig")   # for kubectl / load_kube_config
        ...                                          # or use server.url directly

``start_server(backend, host="127.0.0.1", port=0, *, connection_timeout=90.0) -> RunningServer``
returns once the socket listens (a connection silent for ``connection_timeout`` seconds, mid-
request or between requests, is closed); ``RunningServer`` has ``url``, ``host``, ``port``,
``api`` (the resolver), ``backend``, ``write_kubeconfig(path)``, ``kubeconfig()``,
``divergences`` (replay) and ``stop()`` (idempotent; also on ``with`` exit).

Backends: ``FakeBackend(ClusterState())`` for an empty cluster (namespace "default" exists;
``manifests.load_manifests(server.api, paths)`` seeds it from YAML/JSON), and
``replay.ReplayBackend(recording, session_id, step, pace=..., hooks=ReplayHooks(...))`` for a
recording as of operation ``step``, with ``advance()``, ``divergences()`` (see that module).

Without sockets: ``ApiServer(backend).handle(ApiRequest.from_target("GET", "/api/v1/pods"))``
returns an ``ApiResponse`` (``status``, ``body`` bytes, or ``stream`` for watches).

As kube-apiserver: metadata of the wrong JSON type is refused at decode (400), label and
other metadata syntax errors are 422 with field causes; a deleted namespace turns Terminating,
its contents are deleted and it goes once empty (``default``, ``kube-system``, ``kube-public``
cannot be deleted); a deleted CRD deletes its custom resources and ends the watches on them;
``dryRun=All`` writes are answered from the state, never from a recording (``terminating``,
``metadata``, ``secret_data``, ``removal``).

Not served: server-side apply (415), protobuf bodies other than Namespace/ConfigMap/Secret/
ServiceAccount (415; kubectl's typed ``create deployment`` etc.), full OpenAPI schemas (kubectl
falls back to built-in ones), admission/defaulting beyond server-managed metadata and CRD
schemas, and the controllers themselves (no pods appear for a Deployment; ``rollout status``
waits). Custom resources are pruned, defaulted and validated with their CRD's
``openAPIV3Schema`` as kube-apiserver does (``schema``; recorded objects are served as recorded).

Layers: ``state`` (objects, resourceVersion, event log) <- ``objects``/``removal``/``scale``
(lifecycle, with ``schema`` for CRD schemas) and ``patching`` <- ``resolver`` (routing, with
``discovery``, ``listing``, ``watch``, ``tables``) <- ``server`` (HTTP).
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
