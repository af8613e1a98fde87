"""Parse API paths into what they address, without touching state."""

from __future__ import annotations

from dataclasses import dataclass

from kreplay_dap.apiserver.status import ApiStatusError

MAX_PATH_LENGTH = 2_048
NOT_FOUND_TEXT = "the server could not find the requested resource"


def path_not_found() -> ApiStatusError:
    return ApiStatusError(404, NOT_FOUND_TEXT)


@dataclass(frozen=True, slots=True)
class ResourcePath:
    group: str
    version: str
    plural: str = ""  # "" for the discovery document of the group version
    namespace: str = ""
    name: str = ""
    subresource: str = ""


def _group_version(segments: list[str]) -> tuple[str, str, list[str]] | None:
    """Split ``api/v1/...`` or ``apis/g/v/...``; None for the group-level discovery paths."""
    if segments[0] == "api":
        if len(segments) < 2:
            return None
        return "", segments[1], segments[2:]
    if len(segments) < 3:
        return None
    return segments[1], segments[2], segments[3:]


def parse_resource_path(path: str) -> ResourcePath | None:
    """None for paths that are not under /api/v1 or /apis/{g}/{v}; 404 for malformed ones."""
    if len(path) > MAX_PATH_LENGTH:
        raise ApiStatusError(414, "request URI too long", reason="RequestURITooLong")
    segments = [s for s in path.split("/") if s]
    if not segments or segments[0] not in ("api", "apis"):
        return None
    split = _group_version(segments)
    if split is None:
        return None
    group, version, rest = split
    if any(not s or s in (".", "..") for s in rest):
        raise path_not_found()
    namespace = ""
    is_namespace_subresource = group == "" and len(rest) == 3 and rest[2] in ("status", "finalize")
    if len(rest) >= 3 and rest[0] == "namespaces" and not is_namespace_subresource:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        raise path_not_found()
    padded = [*rest, "", "", ""]
    return ResourcePath(group, version, padded[0], namespace, padded[1], padded[2])
