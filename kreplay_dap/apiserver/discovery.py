"""Discovery documents: /version, /api, /api/v1, /apis, /apis/{group}, /apis/{group}/{version}.

Only the legacy (unaggregated) discovery format is served: a client asking for aggregated
discovery gets plain JSON back and falls back, as kubectl does. /openapi/v2 and /openapi/v3
answer 404, which makes kubectl use its built-in schemas for apply and skip client-side
validation of our kinds.
"""

from __future__ import annotations

from typing import Any

from kreplay_dap.apiserver.kinds import KindInfo, KindRegistry

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-kreplay",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-12-11T00:00:00Z",
    "goVersion": "go1.23.3",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def api_group_list(registry: KindRegistry) -> dict[str, Any]:
    groups = [_group(name, versions) for name, versions in registry.group_versions().items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: KindRegistry, name: str) -> dict[str, Any] | None:
    versions = registry.group_versions().get(name)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def _resource_entries(info: KindInfo) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        main["shortNames"] = list(info.short_names)
    if info.categories:
        main["categories"] = list(info.categories)
    entries = [main]
    sub_verbs = ["get", "patch", "update"]
    if "status" in info.subresources:
        entries.append({"name": f"{info.plural}/status", "singularName": "",
                        "namespaced": info.namespaced, "kind": info.kind,
                        "verbs": sub_verbs})  # fmt: skip
    if "scale" in info.subresources:
        entries.append({"name": f"{info.plural}/scale", "singularName": "",
                        "namespaced": info.namespaced, "group": "autoscaling", "version": "v1",
                        "kind": "Scale", "verbs": sub_verbs})  # fmt: skip
    return entries


def api_resource_list(registry: KindRegistry, group: str, version: str) -> dict[str, Any] | None:
    infos = [i for i in registry.all() if i.group == group and version in i.versions]
    if not infos:
        return None
    resources: list[dict[str, Any]] = []
    for info in infos:
        resources.extend(_resource_entries(info))
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": resources}  # fmt: skip
