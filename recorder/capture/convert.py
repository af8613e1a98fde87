"""Captured calls and watch lines to ``Operation`` rows (writer process side)."""

from __future__ import annotations

import json
from typing import Any

from recorder.capture.dechunk import ChunkedDecoder, ChunkingError
from recorder.capture.decode import (
    ErrorFields,
    ObjectFields,
    error_fields,
    identity_fields,
    may_hold_a_secret,
    object_fields,
    parse_json,
    plain_watch_event,
    watch_event,
)
from recorder.capture.messages import FRAMING_CHUNKED
from recorder.capture.redact import Redactor
from recorder.capture.routes import Route, parse_route
from recorder.storage import CallFrame, Operation

_CACHE_LIMIT = 4096
_NO_WATCH = Route("", "", "", "", "", "get", True)  # before the first watch event
_UNKNOWN = object()
_PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}


def call_frames(raw: Any) -> tuple[CallFrame, ...]:
    frames = []
    for item in list(raw or ())[:8]:
        file, line, function = item
        frames.append(CallFrame(str(file), int(line), str(function)))
    return tuple(frames)


class Converter:
    """Builds operations for one session; learns resource kinds from responses."""

    def __init__(self, session_id: str, actor: str, redactor: Redactor) -> None:
        self.session_id = session_id
        self.actor = actor
        self.redactor = redactor
        self.learned_kinds: dict[str, str] = {}
        # The last watch route: it read as a get, and whether its events can need redaction.
        self._watched: Route | None = None
        self._watched_as_get = _NO_WATCH
        self._watched_plain = False
        self._routes: dict[tuple[str, str], Route | None] = {}
        self._sites: dict[Any, tuple[CallFrame, ...]] = {}

    def call(self, message: tuple[Any, ...], span_id: int | None) -> Operation | None:
        """One request/response; None for non-resource paths (discovery, /version)."""
        (_, ts_ns, duration_us, method, url, content_type, request, status, reason,
         response, exc_type, exc_text, thread, site, _) = message  # fmt: skip
        route = self._route(str(method), str(url))
        if route is None:
            return None
        if type(response) is tuple:
            response = _unchunked(response)
        body = self._response_identity(response, int(status), route)
        whole = body is None
        if whole and isinstance(response, bytes):
            body = parse_json(response)
        fields = object_fields(body, route, self.learned_kinds)
        request = _request_document(request)
        if route.verb == "create" and not fields.name:
            _name_from_request(fields, request)
        op = Operation(
            self.session_id, 0, int(ts_ns), route.verb,
            api_version=fields.api_version, kind=fields.kind, resource=route.resource,
            subresource=route.subresource, namespace=fields.namespace, name=fields.name,
            uid=fields.uid, resource_version=fields.resource_version,
            generation=fields.generation, duration_us=int(duration_us), actor=self.actor,
            thread=str(thread), span_id=span_id, call_site=self._call_site(site),
            status_code=int(status),
        )  # fmt: skip
        if method == "PATCH":
            op.patch_type = _PATCH_TYPES.get(str(content_type).split(";")[0].strip(), "")
        op.request_body = self._request_body(request, route)
        op.response_body = self._response_body(response, body, route) if whole else response
        if int(status) >= 400:
            _set_error(op, error_fields(int(status), str(reason), body, response))
        elif exc_type:
            op.error_reason, op.error_message = str(exc_type), str(exc_text)[:4096]
        return op

    def _route(self, method: str, url: str) -> Route | None:
        """``parse_route``, remembered: an operator calls the same few URLs again and again."""
        key = (method, url)
        known = self._routes.get(key, _UNKNOWN)
        if known is not _UNKNOWN:
            return known  # type: ignore[return-value]  # a Route or None, never the marker
        if len(self._routes) >= _CACHE_LIMIT:
            self._routes.clear()
        route = self._routes[key] = parse_route(method, url)
        return route

    def _call_site(self, raw: Any) -> tuple[CallFrame, ...]:
        """One tuple per call site: the storage writer finds it again by identity."""
        try:
            frames = self._sites.get(raw)
        except TypeError:  # not hashable: not a site we sent
            return call_frames(raw)
        if frames is None:
            if len(self._sites) >= _CACHE_LIMIT:
                self._sites.clear()
            frames = self._sites[raw] = call_frames(raw)
        return frames

    def _response_identity(self, response: Any, status: int, route: Route) -> Any:
        """A success's kind, apiVersion and metadata, when its body needs no redaction.

        None: the body is parsed whole (errors, Secrets, lists of them, odd shapes).
        """
        if (
            type(response) is not bytes
            or not 200 <= status <= 299
            or self.redactor.may_redact(route.resource, route.subresource)
            or may_hold_a_secret(response)
        ):
            return None
        return identity_fields(response)

    def _request_body(self, request: Any, route: Route) -> bytes | None:
        if request is None or isinstance(request, bytes):
            return request
        self.redactor.redact_body(request, route.resource, route.subresource)
        return json.dumps(request).encode()

    def _response_body(self, raw: Any, body: Any, route: Route) -> bytes | None:
        if not isinstance(raw, bytes):
            return None
        if self.redactor.redact_body(body, route.resource, route.subresource):
            return json.dumps(body).encode()
        return raw

    def watch_line(
        self, line: bytes, ts_ns: int, route: Route, thread: str,
        site: tuple[CallFrame, ...], span_id: int | None,
    ) -> Operation | None:  # fmt: skip
        if route is not self._watched:  # a stream's events come in runs
            self._watched, self._watched_as_get = route, _as_get(route)
            self._watched_plain = not self.redactor.may_redact(route.resource, route.subresource)
        event = plain_watch_event(line) if self._watched_plain else None
        if event is None:
            event = watch_event(line, route, self.redactor)
            if event is None:
                return None
        fields = object_fields(event.obj, self._watched_as_get, self.learned_kinds)
        op = Operation(
            self.session_id, 0, ts_ns, "watch", event_type=event.event_type,
            api_version=fields.api_version, kind=fields.kind, resource=route.resource,
            subresource=route.subresource, namespace=fields.namespace, name=fields.name,
            uid=fields.uid, resource_version=fields.resource_version,
            generation=fields.generation, response_body=event.body, status_code=200,
            actor=self.actor, thread=thread, span_id=span_id, call_site=site,
        )  # fmt: skip
        if event.event_type == "ERROR":
            _set_error(op, error_fields(0, "", event.obj, event.body))
        return op


def _unchunked(response: tuple[Any, ...]) -> bytes | None:
    """A body teed at the socket file with its HTTP chunk framing, without it.

    Bytes that are not chunked coding are kept as they came: a body is never lost.
    """
    framing, data = response
    if framing != FRAMING_CHUNKED or not isinstance(data, bytes):
        raise ValueError(f"unexpected response body framing {framing!r}")
    decoder = ChunkedDecoder()
    try:
        return decoder.feed(data) or None
    except ChunkingError:
        return data


def _request_document(request: Any) -> Any:
    """The request body parsed, or its bytes when they are not JSON."""
    if isinstance(request, str):
        request = request.encode()
    if isinstance(request, bytes):
        parsed = parse_json(request)
        return request if parsed is None else parsed
    return request


def _name_from_request(fields: ObjectFields, request: Any) -> None:
    """A create answered by a Status (409, 422) or an oversize marker has no object to
    name it: the object sent does."""
    metadata = request.get("metadata") if isinstance(request, dict) else None
    if not isinstance(metadata, dict):
        return
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if isinstance(name, str):
        fields.name = name
    if isinstance(namespace, str) and not fields.namespace:
        fields.namespace = namespace


def _set_error(op: Operation, error: ErrorFields) -> None:
    op.error_code, op.error_reason, op.error_message = error.code, error.reason, error.message


def _as_get(route: Route) -> Route:
    """A watch event carries one object: read its fields like a get's response."""
    return Route(route.api_version, route.resource, route.namespace, "", route.subresource,
                 "get", True)  # fmt: skip
