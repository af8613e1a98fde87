"""Kubernetes URL paths to resource coordinates and verbs (pure functions).

Runs on the writer side, never on the operator's thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

_TRUE = frozenset({"true", "True", "1"})
_MAX_QUERY_PAIRS = 64
_SUBRESOURCES = frozenset({"status", "scale", "finalize", "approval", "ephemeralcontainers"})

# Kinds of the built-in resources, for responses that carry no object (errors, Status).
BUILTIN_KINDS = {
    "pods": "Pod", "services": "Service", "configmaps": "ConfigMap", "secrets": "Secret",
    "namespaces": "Namespace", "nodes": "Node", "events": "Event", "endpoints": "Endpoints",
    "serviceaccounts": "ServiceAccount", "persistentvolumeclaims": "PersistentVolumeClaim",
    "persistentvolumes": "PersistentVolume", "replicationcontrollers": "ReplicationController",
    "resourcequotas": "ResourceQuota", "limitranges": "LimitRange",
    "deployments": "Deployment", "statefulsets": "StatefulSet", "daemonsets": "DaemonSet",
    "replicasets": "ReplicaSet", "controllerrevisions": "ControllerRevision",
    "jobs": "Job", "cronjobs": "CronJob", "ingresses": "Ingress",
    "networkpolicies": "NetworkPolicy", "leases": "Lease", "roles": "Role",
    "rolebindings": "RoleBinding", "clusterroles": "ClusterRole",
    "clusterrolebindings": "ClusterRoleBinding", "storageclasses": "StorageClass",
    "customresourcedefinitions": "CustomResourceDefinition",
    "horizontalpodautoscalers": "HorizontalPodAutoscaler",
    "poddisruptionbudgets": "PodDisruptionBudget", "tokenreviews": "TokenReview",
    "endpointslices": "EndpointSlice", "priorityclasses": "PriorityClass",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request went: group/version/resource/namespace/name/subresource and verb."""

    api_version: str
    resource: str
    namespace: str
    name: str
    subresource: str
    verb: str
    watch: bool


def is_watch_url(url: str) -> bool:
    """Cheap check for the operator's thread: does this request open a watch stream?"""
    if "watch" not in url:
        return False
    route = parse_route("GET", url)
    return route is not None and route.watch


def parse_route(method: str, url: str) -> Route | None:
    """The route of a resource request, or None for discovery and other non-resource paths."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s][:16]
    query = dict(parse_qsl(parts.query, max_num_fields=_MAX_QUERY_PAIRS))
    if len(segments) >= 2 and segments[0] == "api":
        api_version, rest = segments[1], segments[2:]
    elif len(segments) >= 3 and segments[0] == "apis":
        api_version, rest = f"{segments[1]}/{segments[2]}", segments[3:]
    else:
        return None
    legacy_watch = bool(rest) and rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]
    namespace = ""
    # /namespaces/<ns>/<resource>..., but /namespaces/<name>/status is the Namespace itself.
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in _SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return None
    resource = rest[0]
    name = rest[1] if len(rest) >= 2 else ""
    subresource = rest[2] if len(rest) >= 3 else ""
    watch = legacy_watch or query.get("watch", "") in _TRUE
    verb = _verb(method.upper(), bool(name), watch)
    return Route(api_version, resource, namespace, name, subresource, verb, watch)


def _verb(method: str, has_name: bool, watch: bool) -> str:
    if method == "GET":
        if watch:
            return "watch"
        return "get" if has_name else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if has_name else "deletecollection"
    return "get"


def kind_for_resource(resource: str, learned: dict[str, str]) -> str:
    """The kind of a resource: learned from this session's responses, built in, or guessed."""
    known = learned.get(resource) or BUILTIN_KINDS.get(resource)
    if known:
        return known
    singular = resource[:-1] if resource.endswith("s") else resource
    return singular[:1].upper() + singular[1:]
