"""List responses (selectors, limit/continue paging, Tables) and watch responses."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from kreplay_dap.apiserver import status, tables, watch
from kreplay_dap.apiserver.kinds import KindInfo
from kreplay_dap.apiserver.messages import ApiRequest, ApiResponse
from kreplay_dap.apiserver.objects import Target
from kreplay_dap.apiserver.selectors import (
    FieldSelector,
    LabelSelector,
    object_filter,
    parse_field_selector,
    parse_label_selector,
)
from kreplay_dap.apiserver.state import ClusterState, StoredObject, encode_object

MAX_LIMIT = 100_000


def selectors_of(request: ApiRequest, info: KindInfo) -> tuple[LabelSelector, FieldSelector]:
    labels = parse_label_selector(request.query.get("labelSelector"))
    fields = parse_field_selector(request.query.get("fieldSelector"), info.field_labels)
    return labels, fields


def _int_param(request: ApiRequest, name: str, default: int, maximum: int) -> int:
    text = request.query.get(name, "")
    if not text:
        return default
    if not text.isdigit() or len(text) > 12:
        raise status.bad_request(
            f"invalid {name} parameter {text!r}: must be a non-negative integer"
        )
    return min(int(text), maximum)


def _encode_continue(resource_version: int, key: tuple[str, str]) -> str:
    raw = json.dumps({"rv": resource_version, "start": list(key)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        namespace, name = data["start"]
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise status.bad_request(f"continue key is not valid: {error}") from error
    return str(namespace), str(name)


def _page(
    request: ApiRequest, selected: list[StoredObject], resource_version: int
) -> tuple[list[StoredObject], dict[str, Any]]:
    metadata: dict[str, Any] = {"resourceVersion": str(resource_version)}
    token = request.query.get("continue", "")
    if token:
        after = _decode_continue(token)
        selected = [s for s in selected if _key(s) > after]
    limit = _int_param(request, "limit", 0, MAX_LIMIT)
    if limit and len(selected) > limit:
        page = selected[:limit]
        metadata["continue"] = _encode_continue(resource_version, _key(page[-1]))
        metadata["remainingItemCount"] = len(selected) - limit
        return page, metadata
    return selected, metadata


def _key(stored: StoredObject) -> tuple[str, str]:
    metadata = stored.obj["metadata"]
    return metadata.get("namespace", ""), metadata["name"]


def _item_bodies(page: list[StoredObject], api_version: str) -> list[bytes]:
    return [
        s.body
        if s.obj.get("apiVersion") == api_version
        else encode_object({**s.obj, "apiVersion": api_version})
        for s in page
    ]


def list_response(state: ClusterState, request: ApiRequest, target: Target) -> ApiResponse:
    info = target.info
    labels, fields = selectors_of(request, info)
    accept = object_filter(labels, fields)
    stored, resource_version = state.items(info, target.namespace)
    selected = [s for s in stored if accept(s.obj)] if labels or fields else stored
    page, metadata = _page(request, selected, resource_version)
    if tables.wants_table(request.header("accept")):
        include = request.query.get("includeObject", "Metadata")
        table = tables.to_table(info, [s.obj for s in page], metadata, include)
        return ApiResponse.json(200, table)
    api_version = info.api_version(target.version)
    head = json.dumps({"kind": info.list_kind, "apiVersion": api_version, "metadata": metadata},
                      separators=(",", ":")).encode()  # fmt: skip
    body = head[:-1] + b',"items":[' + b",".join(_item_bodies(page, api_version)) + b"]}"
    return ApiResponse(200, body)


def _watch_rv(request: ApiRequest) -> int | None:
    text = request.query.get("resourceVersion", "")
    if text in ("", "0"):
        return None
    if not text.isdigit() or len(text) > 18:
        raise status.bad_request(f"invalid resource version {text!r}")
    return int(text)


def _table_encoder(info: KindInfo, include: str) -> watch.Encode:
    def encode(event_type: str, obj: dict[str, Any]) -> bytes:
        table = tables.to_table(
            info, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion", "")}, include
        )
        return watch.encode_event(event_type, table)

    return encode


def watch_response(state: ClusterState, request: ApiRequest, target: Target) -> ApiResponse:
    info = target.info
    labels, fields = selectors_of(request, info)
    # 0, like no value, means the server's default (kube-apiserver: its minimum request
    # timeout, at least 30 minutes), not a watch that ends at once.
    timeout = _int_param(request, "timeoutSeconds", 0, watch.MAX_TIMEOUT_SECONDS)
    timeout = timeout or watch.MAX_TIMEOUT_SECONDS
    encoder = None
    if tables.wants_table(request.header("accept")):
        encoder = _table_encoder(info, request.query.get("includeObject", "Metadata"))
    spec = watch.WatchSpec(
        info=info,
        namespace=target.namespace,
        accept=object_filter(labels, fields),
        filtered=bool(labels or fields),
        resource_version=_watch_rv(request),
        timeout_seconds=float(timeout),
        bookmarks=request.query.get("allowWatchBookmarks") in ("1", "true"),
        encode=encoder,
        send_initial_events=request.query.get("sendInitialEvents") == "true",
        api_version=info.api_version(target.version),
    )
    return ApiResponse(200, stream=watch.stream(state, spec))
