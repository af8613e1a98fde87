"""A minimal OpenAPI v3 surface: enough for kubectl to see that the server validates fields.

kubectl 1.32 ``create``/``apply`` first ask ``/openapi/v3`` whether the PATCH operation of a
kind accepts the ``fieldValidation`` query parameter; if so it leaves validation to the server
instead of downloading full schemas. So the per group-version documents list, for each kind,
the object path with a PATCH operation tagged with ``x-kubernetes-group-version-kind`` and the
``fieldValidation`` parameter, and nothing else (no schemas: apply then falls back to its
built-in strategic-merge metadata, or JSON merge patch for custom kinds). /openapi/v2 is 404.
"""

from __future__ import annotations

import hashlib
from typing import Any

from kreplay_dap.apiserver.kinds import KindInfo, KindRegistry

PREFIX = "/openapi/v3"
_PARAMETERS = [
    {"name": name, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
    for name in ("dryRun", "fieldManager", "fieldValidation", "force")
]


def _group_versions(registry: KindRegistry) -> dict[str, list[KindInfo]]:
    by_path: dict[str, list[KindInfo]] = {}
    for info in registry.all():
        for version in info.versions:
            key = f"apis/{info.group}/{version}" if info.group else f"api/{version}"
            by_path.setdefault(key, []).append(info)
    return by_path


def _digest(infos: list[KindInfo]) -> str:
    text = "|".join(f"{i.group}/{i.plural}/{','.join(i.versions)}" for i in infos)
    return hashlib.sha256(text.encode()).hexdigest()[:32].upper()


def root(registry: KindRegistry) -> dict[str, Any]:
    paths = {
        key: {"serverRelativeURL": f"{PREFIX}/{key}?hash={_digest(infos)}"}
        for key, infos in _group_versions(registry).items()
    }
    return {"paths": paths}


def _object_path(info: KindInfo, key: str) -> str:
    scope = "/namespaces/{namespace}" if info.namespaced else ""
    return f"/{key}{scope}/{info.plural}/{{name}}"


def group_version_document(registry: KindRegistry, key: str) -> dict[str, Any] | None:
    infos = _group_versions(registry).get(key)
    if infos is None:
        return None
    version = key.rsplit("/", 1)[1]
    paths: dict[str, Any] = {}
    for info in infos:
        gvk = {"group": info.group, "version": version, "kind": info.kind}
        operation = {
            "operationId": f"patch{info.kind}",
            "parameters": _PARAMETERS,
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
        }
        paths[_object_path(info, key)] = {"patch": operation}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0-kreplay"},
            "paths": paths, "components": {"schemas": {}}}  # fmt: skip
