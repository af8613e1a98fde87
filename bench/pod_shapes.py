"""Pods as benchmark payloads: the shape an API server returns, and a trimmed one.

``cluster_pod`` is a Deployment's running Pod as ``kubectl get pod -o json`` shows it on a
current cluster: managed fields, the projected service-account volume, default
tolerations, probes, five conditions and a container status (about 5 KB of JSON). Its
plain costs here (a read in about 0.65 ms, about 22,000 raw or 3,000 typed watch events/s)
are close to the conditions the recorder issue states its targets under (0.9 ms, 28,000
and 2,000). ``small_pod`` (about 750 bytes) keeps only what an operator usually reads;
it makes the client several times faster per call, so a fixed recorder cost weighs more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_T0 = "2025-01-01T00:00:00Z"
_RS = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8c6b5", "uid": "rs-uid",
       "controller": True, "blockOwnerDeletion": True}  # fmt: skip
_EMPTY: dict[str, Any] = {}
_FIELD = {".": _EMPTY, "f:lastProbeTime": _EMPTY, "f:lastTransitionTime": _EMPTY,
          "f:status": _EMPTY, "f:type": _EMPTY}  # fmt: skip


def small_pod(index: int) -> dict[str, Any]:
    """A trimmed Pod in the API server's field order (kind, apiVersion, metadata first)."""
    name = f"web-{index % 50}"
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                     "resourceVersion": str(1000 + index),
                     "creationTimestamp": "2025-01-01T00:00:00Z",
                     "labels": {"app": "web", "pod-template-hash": "7d9f8c6b5"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": "web-7d9f8c6b5", "uid": "rs-uid",
                                          "controller": True}]},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                 "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                 "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}],
                 "nodeName": "node-1", "restartPolicy": "Always", "serviceAccountName": "default"},
        "status": {"phase": "Running", "podIP": "10.0.0.7", "hostIP": "192.168.1.10",
                   "conditions": [{"type": "Ready", "status": "True",
                                   "lastTransitionTime": "2025-01-01T00:00:05Z"}]},
    }  # fmt: skip


def _managed_fields() -> list[dict[str, Any]]:
    get = {".": _EMPTY, "f:path": _EMPTY, "f:port": _EMPTY, "f:scheme": _EMPTY}
    probe = {".": _EMPTY, "f:httpGet": get}
    container = {
        ".": {},
        "f:env": {".": {}, 'k:{"name":"LOG_LEVEL"}': {".": {}, "f:name": {}, "f:value": {}}},
        "f:image": {}, "f:imagePullPolicy": {}, "f:livenessProbe": probe, "f:name": {},
        "f:ports": {".": {}, 'k:{"containerPort":80,"protocol":"TCP"}':
                    {".": {}, "f:containerPort": {}, "f:protocol": {}}},
        "f:readinessProbe": probe,
        "f:resources": {".": {}, "f:limits": {".": {}, "f:memory": {}},
                        "f:requests": {".": {}, "f:cpu": {}, "f:memory": {}}},
        "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {},
    }  # fmt: skip
    spec = {
        "f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {},
                                                          "f:pod-template-hash": {}},
                       "f:ownerReferences": {".": {}, 'k:{"uid":"rs-uid"}': {}}},
        "f:spec": {"f:containers": {'k:{"name":"web"}': container}, "f:dnsPolicy": {},
                   "f:enableServiceLinks": {}, "f:restartPolicy": {}, "f:schedulerName": {},
                   "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}},
    }  # fmt: skip
    status = {"f:status": {
        "f:conditions": {f'k:{{"type":"{kind}"}}': _FIELD
                         for kind in ("ContainersReady", "Initialized", "Ready")},
        "f:containerStatuses": {}, "f:hostIP": {}, "f:hostIPs": {}, "f:phase": {}, "f:podIP": {},
        "f:podIPs": {".": {}, 'k:{"ip":"10.244.0.7"}': {".": {}, "f:ip": {}}}, "f:startTime": {},
    }}  # fmt: skip
    return [
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
         "time": _T0, "fieldsType": "FieldsV1", "fieldsV1": spec},
        {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": _T0,
         "fieldsType": "FieldsV1", "fieldsV1": status, "subresource": "status"},
    ]  # fmt: skip


def _cluster_spec() -> dict[str, Any]:
    probe = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    token = "kube-api-access-x7k2p"
    sources = [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]  # fmt: skip
    container = {
        "name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "env": [{"name": "LOG_LEVEL", "value": "info"}],
        "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}},
        "volumeMounts": [{"name": token, "readOnly": True,
                          "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 80, "scheme": "HTTP"}, **probe},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 80, "scheme": "HTTP"}, **probe},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }  # fmt: skip
    toleration = {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    return {
        "volumes": [{"name": token, "projected": {"sources": sources, "defaultMode": 420}}],
        "containers": [container], "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default", "serviceAccount": "default", "nodeName": "node-1",
        "securityContext": {}, "schedulerName": "default-scheduler",
        "tolerations": [{"key": "node.kubernetes.io/not-ready", **toleration},
                        {"key": "node.kubernetes.io/unreachable", **toleration}],
        "priority": 0, "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority",
    }  # fmt: skip


def _cluster_status() -> dict[str, Any]:
    conditions = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                  "PodScheduled")  # fmt: skip
    digest = "3b7732505933ca591ce4a6d860cb713ad96a3176b82f7979a8dfa9973486a0d6"
    return {
        "phase": "Running",
        "conditions": [{"type": kind, "status": "True", "lastProbeTime": None,
                        "lastTransitionTime": _T0} for kind in conditions],
        "hostIP": "192.168.1.10", "hostIPs": [{"ip": "192.168.1.10"}],
        "podIP": "10.244.0.7", "podIPs": [{"ip": "10.244.0.7"}], "startTime": _T0,
        "containerStatuses": [{
            "name": "web", "state": {"running": {"startedAt": _T0}}, "lastState": {},
            "ready": True, "restartCount": 0, "image": "docker.io/library/nginx:1.27",
            "imageID": f"docker.io/library/nginx@sha256:{digest}",
            "containerID": "containerd://" + digest[::-1], "started": True}],
        "qosClass": "Burstable",
    }  # fmt: skip


def cluster_pod(index: int) -> dict[str, Any]:
    """A running Deployment Pod as a current API server returns it (about 5 KB of JSON)."""
    name = f"web-7d9f8c6b5-{index % 50:05d}"
    metadata = {
        "name": name, "generateName": "web-7d9f8c6b5-", "namespace": "default",
        "uid": f"6f1c2a4e-{index % 50:04d}-4b7e-9c1d-2f8e3a5b7c9d",
        "resourceVersion": str(1000 + index), "creationTimestamp": _T0,
        "labels": {"app": "web", "pod-template-hash": "7d9f8c6b5"},
        "ownerReferences": [_RS], "managedFields": _managed_fields(),
    }  # fmt: skip
    return {"kind": "Pod", "apiVersion": "v1", "metadata": metadata, "spec": _cluster_spec(),
            "status": _cluster_status()}  # fmt: skip


SHAPES: dict[str, Callable[[int], dict[str, Any]]] = {"cluster": cluster_pod, "small": small_pod}
