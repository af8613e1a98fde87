"""The kinds served: built-ins, CustomResourceDefinitions and kinds seen in a recording."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from kreplay_dap.apiserver.patching import child_map
from kreplay_dap.apiserver.status import ApiStatusError, bad_request

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
# Namespaces are deleted one by one (the namespace controller empties each), never as a collection.
NAMESPACE_VERBS = tuple(v for v in ALL_VERBS if v != "deletecollection")
MAX_KINDS = 2_000
API_APPROVED = "api-approved.kubernetes.io"


@dataclass(frozen=True, slots=True)
class KindInfo:
    """One served resource: its group, versions (first is the storage version) and shape."""

    group: str
    versions: tuple[str, ...]
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()
    has_generation: bool = False
    builtin: bool = True
    field_labels: frozenset[str] = frozenset()
    categories: tuple[str, ...] = ()
    # CRD additionalPrinterColumns as (name, type, jsonPath), for kubectl's table output.
    printer_columns: tuple[tuple[str, str, str], ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # False for custom resources and CRDs: a PUT must carry metadata.resourceVersion.
    unconditional_update: bool = True
    # True where the registry sets ReturnDeletedObject: a DELETE that removes the object at
    # once answers with it; the other kinds answer with a Success Status.
    returns_deleted_object: bool = False

    @property
    def storage_version(self) -> str:
        return self.versions[0]

    @property
    def group_resource(self) -> str:
        """``deployments.apps``, or ``pods`` for the core group, as in error messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def api_version(self, version: str = "") -> str:
        chosen = version or self.storage_version
        return f"{self.group}/{chosen}" if self.group else chosen


_EVENT_FIELDS = frozenset(
    {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    }
)
_POD_FIELDS = frozenset(
    {
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    }
)
_STATUS = frozenset({"status"})
_SCALED = frozenset({"status", "scale"})


def _core(kind: str, plural: str, short: tuple[str, ...] = (), **extra: Any) -> KindInfo:
    return KindInfo("", ("v1",), kind, plural, kind.lower(), extra.pop("namespaced", True),
                    short, **extra)  # fmt: skip


def _grouped(group: str, kind: str, plural: str, short: tuple[str, ...], **extra: Any) -> KindInfo:
    return KindInfo(group, ("v1",), kind, plural, kind.lower(), extra.pop("namespaced", True),
                    short, **extra)  # fmt: skip


BUILTIN_KINDS: tuple[KindInfo, ...] = (
    _core("Pod", "pods", ("po",), subresources=_STATUS, field_labels=_POD_FIELDS,
          categories=("all",), returns_deleted_object=True),
    _core("Service", "services", ("svc",), subresources=_STATUS, categories=("all",),
          returns_deleted_object=True),
    _core("ConfigMap", "configmaps", ("cm",)),
    _core("Secret", "secrets", (), field_labels=frozenset({"type"})),
    _core("Namespace", "namespaces", ("ns",), namespaced=False, subresources=_STATUS,
          field_labels=frozenset({"status.phase"}), verbs=NAMESPACE_VERBS,
          returns_deleted_object=True),
    _core("Event", "events", ("ev",), field_labels=_EVENT_FIELDS),
    _core("ServiceAccount", "serviceaccounts", ("sa",)),
    _grouped("apps", "Deployment", "deployments", ("deploy",), subresources=_SCALED,
             has_generation=True, categories=("all",)),
    _grouped("apps", "StatefulSet", "statefulsets", ("sts",), subresources=_SCALED,
             has_generation=True, categories=("all",)),
    _grouped("apps", "ReplicaSet", "replicasets", ("rs",), subresources=_SCALED,
             has_generation=True, categories=("all",)),
    _grouped("apps", "DaemonSet", "daemonsets", ("ds",), subresources=_STATUS,
             has_generation=True, categories=("all",)),
    _grouped("batch", "Job", "jobs", (), subresources=_STATUS, has_generation=True,
             categories=("all",), field_labels=frozenset({"status.successful"})),
    _grouped("coordination.k8s.io", "Lease", "leases", ()),
    _grouped("apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions",
             ("crd", "crds"), namespaced=False, subresources=_STATUS, has_generation=True,
             unconditional_update=False),
)  # fmt: skip


@dataclass(slots=True)
class KindRegistry:
    """Thread-safe index of served kinds by (group, plural) and by (group, kind)."""

    _by_resource: dict[tuple[str, str], KindInfo] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def with_builtins(cls) -> KindRegistry:
        registry = cls()
        for info in BUILTIN_KINDS:
            registry.register(info)
        return registry

    def register(self, info: KindInfo) -> bool:
        """Serve ``info``; False (nothing changes) if it would replace a built-in kind, which
        kube-apiserver keeps serving ahead of any CRD of the same group and plural."""
        with self._lock:
            current = self._by_resource.get((info.group, info.plural))
            if current is not None and current.builtin and not info.builtin:
                return False
            if len(self._by_resource) >= MAX_KINDS:
                raise ApiStatusError(413, f"too many kinds (limit {MAX_KINDS})")
            self._by_resource[(info.group, info.plural)] = info
            return True

    def unregister(self, group: str, plural: str) -> KindInfo | None:
        """Stop serving a custom kind; built-in kinds stay. Returns the kind removed."""
        with self._lock:
            current = self._by_resource.get((group, plural))
            if current is None or current.builtin:
                return None
            return self._by_resource.pop((group, plural))

    def resolve(self, group: str, version: str, plural: str) -> KindInfo | None:
        with self._lock:
            info = self._by_resource.get((group, plural))
        if info is None or version not in info.versions:
            return None
        return info

    def by_resource(self, group: str, plural: str) -> KindInfo | None:
        with self._lock:
            return self._by_resource.get((group, plural))

    def by_kind(self, group: str, kind: str) -> KindInfo | None:
        with self._lock:
            infos = list(self._by_resource.values())
        return next((i for i in infos if i.group == group and i.kind == kind), None)

    def all(self) -> list[KindInfo]:
        with self._lock:
            return sorted(self._by_resource.values(), key=lambda i: (i.group, i.plural))

    def group_versions(self) -> dict[str, list[str]]:
        """Each non-core group with its served versions, preferred first."""
        groups: dict[str, list[str]] = {}
        for info in self.all():
            if not info.group:
                continue
            versions = groups.setdefault(info.group, [])
            versions.extend(v for v in info.versions if v not in versions)
        return groups


def kind_from_crd(crd: dict[str, Any]) -> KindInfo:
    """The kind an ``apiextensions.k8s.io/v1`` CustomResourceDefinition declares (validated)."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        raise bad_request("CustomResourceDefinition.spec must be an object")
    names = spec.get("names")
    group = spec.get("group")
    scope = spec.get("scope")
    versions = spec.get("versions")
    if not isinstance(names, dict) or not isinstance(group, str) or not group:
        raise bad_request("CustomResourceDefinition.spec needs group and names")
    if scope not in ("Namespaced", "Cluster"):
        raise bad_request('CustomResourceDefinition.spec.scope must be "Namespaced" or "Cluster"')
    if not isinstance(versions, list) or not versions or len(versions) > 32:
        raise bad_request("CustomResourceDefinition.spec.versions must list 1 to 32 versions")
    served, subresources = _crd_versions(versions)
    plural, kind = names.get("plural"), names.get("kind")
    if not isinstance(plural, str) or not isinstance(kind, str) or not plural or not kind:
        raise bad_request("CustomResourceDefinition.spec.names needs plural and kind")
    singular = names.get("singular") if isinstance(names.get("singular"), str) else kind.lower()
    short = tuple(s for s in names.get("shortNames") or () if isinstance(s, str))[:16]
    categories = tuple(c for c in names.get("categories") or () if isinstance(c, str))[:16]
    return KindInfo(group, served, kind, plural, str(singular), scope == "Namespaced", short,
                    frozenset(subresources), has_generation=True, builtin=False,
                    categories=categories,
                    printer_columns=_printer_columns(versions, served[0]),
                    unconditional_update=False, returns_deleted_object=True)  # fmt: skip


def _is_protected_group(group: str) -> bool:
    return any(group == g or group.endswith("." + g) for g in ("k8s.io", "kubernetes.io"))


def crd_definition_errors(crd: dict[str, Any]) -> list[tuple[str, str]]:
    """Field errors (422) ValidateCustomResourceDefinition reports about naming: the name must
    be ``<plural>.<group>``, the group a domain, a protected group needs API approval."""
    spec = child_map(crd, "spec")
    names = child_map(spec, "names")
    metadata = child_map(crd, "metadata")
    group, plural, name = spec.get("group"), names.get("plural"), metadata.get("name")
    causes: list[tuple[str, str]] = []
    if isinstance(group, str) and isinstance(plural, str) and name != f"{plural}.{group}":
        causes.append(
            ("metadata.name", f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group')
        )
    if isinstance(group, str) and group and "." not in group:
        causes.append(
            ("spec.group", f'Invalid value: "{group}": should be a domain with at least one dot')
        )
    annotations = metadata.get("annotations") or {}
    if isinstance(group, str) and _is_protected_group(group) and not annotations.get(API_APPROVED):
        causes.append(
            (f"metadata.annotations[{API_APPROVED}]",
             f'Required value: protected groups must have approval annotation "{API_APPROVED}",'
             " see https://github.com/kubernetes/enhancements/pull/1111")
        )  # fmt: skip
    return causes


def _printer_columns(versions: list[Any], storage: str) -> tuple[tuple[str, str, str], ...]:
    entry = next((v for v in versions if isinstance(v, dict) and v.get("name") == storage), {})
    declared = entry.get("additionalPrinterColumns") or []
    columns = []
    for column in declared[:32] if isinstance(declared, list) else []:
        if not isinstance(column, dict):
            continue
        name, kind, path = column.get("name"), column.get("type", "string"), column.get("jsonPath")
        if isinstance(name, str) and isinstance(path, str) and path.startswith("."):
            columns.append((name, str(kind), path))
    return tuple(columns)


def _crd_versions(versions: list[Any]) -> tuple[tuple[str, ...], set[str]]:
    """Served versions with the storage version first, and the declared subresources."""
    served: list[str] = []
    subresources: set[str] = set()
    for entry in versions:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise bad_request("each CustomResourceDefinition version needs a name")
        if entry.get("served", True) is False:
            continue
        if entry.get("storage"):
            served.insert(0, entry["name"])
        else:
            served.append(entry["name"])
        declared = entry.get("subresources")
        if isinstance(declared, dict):
            subresources.update(k for k in ("status", "scale") if k in declared)
    if not served:
        raise bad_request("a CustomResourceDefinition needs at least one served version")
    return tuple(served), subresources


def kind_from_recording(api_version: str, kind: str, plural: str, namespaced: bool) -> KindInfo:
    """A kind first met in a recording: served with what the recording tells about it."""
    group, _, version = api_version.rpartition("/")
    return KindInfo(group, (version,), kind, plural, kind.lower(), namespaced,
                    subresources=_STATUS, has_generation=True, builtin=False,
                    returns_deleted_object=True)  # fmt: skip
